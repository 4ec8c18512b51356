"""The second grader: your functions against potatogpt's own, on the committed tiny checkpoints.

A check (checks.py) computes potatogpt's answer first, then hands your function a copy of the
same inputs (so nothing you do to them can change what you are compared with), and compares.
When they differ it reports the largest difference and the first wrong position, then looks for
the classic mistake: it computes each known-wrong variant (no 1/sqrt(head_dim) scale, a mask off
by one, ...) and names the ones your output matches, if any.  Nothing is downloaded: the tiny
checkpoints under checkpoints/ are exported into a temporary folder.

Each exercise file is graded in a process of its own (`grade_file`), with a time limit and its
printed output captured, so an endless loop, `sys.exit`, `os._exit` or a flood of prints ends in a
verdict naming the exercise, never in a hung or vanished grader.  `grade` is the same check run in
this process (the tests use it for speed).
"""

from __future__ import annotations

import dataclasses
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType, TracebackType
from typing import IO

from potatogpt import model
from potatogpt.api import GPT2, load
from potatogpt.convert.export import convert
from potatogpt.model import KVCache, LayerCache
from potatogpt.tensor import Embedding, Tensor, Weight, transpose
from potatogpt.tokenizer import Tokenizer
from potatogpt.weights.vocab_files import DATA_DIR

ROOT = Path(__file__).resolve().parent.parent
EXERCISES_DIR = Path(__file__).resolve().parent
POTATOGPT_DIR = ROOT / "potatogpt"
CHECKPOINTS = ROOT / "checkpoints"  # the committed tiny checkpoints (one place)
TOKENIZER_CASES = ROOT / "tests" / "fixtures" / "tokenizer_cases.json"
TINY = "tiny-prefixed"  # 3 blocks, 4 heads, 32 channels, 96 tokens: enough heads to split
VOCAB = "tiny-vocab"  # 2 blocks, 2 heads, 8 channels, and GPT-2's real 50,257-token vocabulary

# Two computations of the same number in a different order differ in the last few bits (about
# 1e-15 here); the classic mistakes differ by far more (leaving out eps changes a layer norm by
# about 1e-4).  A value passes when |yours - expected| <= ABS_TOL + REL_TOL * |expected|.
ABS_TOL = 1e-6
REL_TOL = 1e-6
ROUNDING = 1e-12  # what a different order of the same arithmetic really gives, at most
NEAR_MISS = 1e-2  # a difference below this (relative to the values' size) is "slightly off"

TIME_LIMIT = 30.0  # seconds for one exercise's whole check (the answer key needs about 1)
OUTPUT_LIMIT = 2000  # characters of your printed output kept and shown

Rows = list[list[float]]


# --- How a check ends -------------------------------------------------------------------------
class Failed(Exception):
    """A check found a wrong value; `lines` say what, where, and (if known) why."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class WrongValues(Failed):
    """Wrong values, with the hints of the known mistakes that explain them (kept apart, so the
    cases of one check can keep only the hints every wrong case agrees with)."""

    def __init__(self, head: list[str], matched: list[str], otherwise: list[str]) -> None:
        super().__init__(head + (hint_lines(matched) if matched else otherwise))
        self.head, self.matched, self.otherwise = head, matched, otherwise

    def keeping(self, matched: list[str]) -> WrongValues:
        return WrongValues(self.head, matched, self.otherwise)


class ExitCalled(Failed):
    """The student's function called sys.exit: reported as a crash."""


class InputChanged(Failed):
    """The student's function wrote into one of its inputs: a verdict of its own."""


class NotWritten(Exception):
    """A function still raises NotImplementedError."""

    def __init__(self, name: str, others_ran: bool) -> None:
        super().__init__(name)
        self.name = name
        self.others_ran = others_ran  # an earlier function of the same exercise already ran


class StudentCrashed(Exception):
    """The student's function raised; kept with the call it was graded on."""

    def __init__(self, error: BaseException, call: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.call = call


# --- Copies the student may do anything to -------------------------------------------------------
def fresh_copy(value: object) -> object:
    """A copy sharing no list with `value` (Tensors, Weights, caches, parameters, lists)."""
    if isinstance(value, Tensor):
        return Tensor(value.n_rows, value.n_cols, [list(row) for row in value.rows])
    if isinstance(value, Weight):
        if value.fast is not None:
            return value  # (a fast layout cannot be written into through the lesson's API)
        return Weight(value.n_in, value.n_out, columns=[list(c) for c in value.columns])
    if isinstance(value, Embedding):
        transposed = fresh_copy(value.T)
        assert isinstance(transposed, Weight)
        return Embedding(transposed)
    if isinstance(value, list):
        return [fresh_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(fresh_copy(v) for v in value)
    if isinstance(value, dict):
        return {k: fresh_copy(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: fresh_copy(getattr(value, f.name))
                                             for f in dataclasses.fields(value) if f.init})
    return value  # numbers, strings, ranges, configs: nothing to write into


def first_change(original: object, given: object, path: str) -> str | None:
    """Where `given` (the copy the student had) no longer equals `original`, or None."""
    if isinstance(original, Tensor):
        if not isinstance(given, Tensor) or given.shape != original.shape or len(given.rows) != len(original.rows):
            return path
        for i, (a, b) in enumerate(zip(original.rows, given.rows)):
            if a != b:
                return f"{path}.rows[{i}]"
        return None
    if isinstance(original, Weight):
        if not isinstance(given, Weight) or given.shape != original.shape:
            return path
        if original.fast is None and given.fast is None and original.columns != given.columns:
            return f"{path} (its columns)"
        return None
    if isinstance(original, Embedding):
        return first_change(original.T, given.T if isinstance(given, Embedding) else given, path)
    if isinstance(original, (list, tuple)):
        if not isinstance(given, (list, tuple)) or type(given) is not type(original) or len(given) != len(original):
            return path
        if given == original:  # (numbers compare at C speed; Tensors only by identity, so those go on below)
            return None
        for i, (a, b) in enumerate(zip(original, given)):
            found = first_change(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(original, dict):
        if not isinstance(given, dict) or given.keys() != original.keys():
            return path
        for key in original:
            found = first_change(original[key], given[key], f"{path}[{key!r}]")
            if found:
                return found
        return None
    if dataclasses.is_dataclass(original) and not isinstance(original, type):
        for field in dataclasses.fields(original):
            found = first_change(getattr(original, field.name), getattr(given, field.name, None), f"{path}.{field.name}")
            if found:
                return found
        return None
    return None if given is original or given == original else path


def describe(value: object) -> str:
    """A short name for an argument, for 'while grading f(...)' lines."""
    if isinstance(value, Tensor):
        return f"Tensor{tuple(value.shape)}"
    if isinstance(value, Weight):
        return f"Weight{tuple(value.shape)}"
    if isinstance(value, KVCache):
        return f"KVCache holding {value.length} positions"
    if isinstance(value, LayerCache):
        return f"LayerCache holding {value.keys[0].n_out if value.keys else 0} positions"
    if isinstance(value, (list, tuple, range)):
        return f"{len(value)} {'items' if len(value) != 1 else 'item'}"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return f"{len(value)} entries"
    return type(value).__name__


class Solution:
    """A student's exercise module.  Its functions are called through `call`, which hands them
    copies of the inputs, tells a stub that is not written yet apart from a function that runs,
    and notices a function that wrote into what it was given."""

    def __init__(self, module: object, file: Path | None) -> None:
        self.module = module
        self.file = file
        self.calls_done = 0
        self.on_call: Callable[[str], None] = lambda call: None  # told which call is about to run

    def function(self, name: str) -> Callable[..., object]:
        found: object = getattr(self.module, name, None)
        if not callable(found):
            where = self.file.name if self.file else "the solution"
            raise Failed([f"{where} has no function {name}()"])
        return found

    def call(self, name: str, *args: object, changes: Sequence[int] = ()) -> object:
        """Call the student's `name` on copies of args; the arguments at the positions in `changes`
        (a KV cache) are passed as they are, since filling them is the function's job."""
        function = self.function(name)
        names = parameter_names(function, len(args))
        shown = f"{name}({', '.join(f'{n}={describe(a)}' for n, a in zip(names, args))})"
        given = [arg if i in changes else fresh_copy(arg) for i, arg in enumerate(args)]
        self.on_call(shown)
        try:
            result = function(*given)
        except NotImplementedError:
            raise NotWritten(name, self.calls_done > 0) from None
        except (Failed, NotWritten):
            raise
        except Exception as error:  # (SystemExit and KeyboardInterrupt are not Exceptions: they go on up)
            raise StudentCrashed(error, shown) from error
        except SystemExit as stop:
            raise ExitCalled([f"{shown} called sys.exit({'' if stop.code is None else stop.code!r}): an exercise "
                          "function must return its result, never end the program"]) from None
        self.calls_done += 1
        for i, (original, copy) in enumerate(zip(args, given)):
            where = None if i in changes else first_change(original, copy, names[i])
            if where:
                raise InputChanged([
                    f"your {name} wrote into its input {names[i]} ({where} changed) while grading {shown}",
                    "  build new lists for your results, never write into a tensor's rows or an argument's lists: "
                    f"{names[i]} is read-only (potatogpt's callers still need it as it was)",
                ])
        return result


def parameter_names(function: Callable[..., object], n: int) -> list[str]:
    try:
        names = [p.name for p in inspect.signature(function).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        names = []
    return (names + [f"argument {i + 1}" for i in range(len(names), n)])[:n]


def load_solution(path: Path) -> Solution:
    """Import one exercise file under a private name (so a folder of answers can sit beside it)."""
    path = path.resolve()
    spec = importlib.util.spec_from_file_location(f"_solution_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Solution(module, path)


# --- Comparing numbers ------------------------------------------------------------------------
def as_rows(value: object, what: str) -> Rows:
    """A Tensor, a list of floats or a list of rows, as rows of floats."""
    try:
        if isinstance(value, Tensor):
            return [list(map(float, row)) for row in value.rows]
        if isinstance(value, Weight):  # (W's rows, as the lessons write it: row i, column j is W[i][j])
            return [list(map(float, row)) for row in transpose(value.columns, value.n_in)]
        if isinstance(value, list) and all(isinstance(v, (int, float)) for v in value):
            return [[float(v) for v in value]]
        if isinstance(value, list) and all(isinstance(r, list) for r in value):
            return [[float(v) for v in row] for row in value]
    except (TypeError, ValueError):
        pass
    raise Failed([f"{what} returned {value!r:.60}, not numbers"])


def shape_of(rows: Rows) -> tuple[int, int]:
    return (len(rows), len(rows[0]) if rows else 0)


def is_close(got: float, want: float) -> bool:
    return abs(got - want) <= ABS_TOL + REL_TOL * abs(want)  # False for NaN, as it should be


def all_close(got: Rows, want: Rows) -> bool:
    return shape_of(got) == shape_of(want) and all(
        len(g) == len(w) and all(map(is_close, g, w)) for g, w in zip(got, want)
    )


Variants = Callable[[], Mapping[str, object]]


def check_close(what: str, got: object, want: object, wrong: Variants | None = None,
                shapes: Mapping[tuple[int, int], str] | None = None,
                numeric: FiniteDifference | None = None) -> None:
    """Fail unless `got` equals `want` to rounding.  `wrong` computes, only when needed, a hint
    for each classic mistake with the value that mistake gives; the hints `got` matches are
    reported.  `shapes` names the mistakes that give a result of a known wrong shape.  `numeric`
    (for a gradient) recomputes the first wrong value by finite differences, so the report says
    what the derivative is without taking potatogpt's word for it."""
    if isinstance(want, Tensor) and not isinstance(got, Tensor):  # (the finale needs a real Tensor)
        kind = "None: is a `return` missing?" if got is None else f"a {type(got).__name__}, not a Tensor"
        raise Failed([f"{what} returned {kind}", "  hint: from_rows(rows, n_rows, n_cols) makes a Tensor of lists"])
    got_rows, want_rows = as_rows(got, what), as_rows(want, "potatogpt")
    if isinstance(got, Tensor) and (got.shape != shape_of(got_rows) and got_rows):
        raise Failed([f"{what}: your Tensor says its shape is {tuple(got.shape)}, but it holds "
                      f"{len(got_rows)} rows of {len(got_rows[0])}",
                      "  hint: build it with from_rows(rows, n_rows, n_cols), which checks the two agree"])
    if shape_of(got_rows) != shape_of(want_rows) or any(len(r) != len(want_rows[0]) for r in got_rows):
        lines = [f"{what}: yours has shape {shape_of(got_rows)}, expected {shape_of(want_rows)}"]
        known = (shapes or {}).get(shape_of(got_rows))
        raise Failed(lines + ([f"  hint: {known}"] if known else []))
    if all_close(got_rows, want_rows):
        return
    cells = [(i, j, g, w) for i, (gr, wr) in enumerate(zip(got_rows, want_rows)) for j, (g, w) in enumerate(zip(gr, wr))]
    # NaN compares as the largest difference of all: it is always wrong.
    i, j, g, w = max(cells, key=lambda c: math.inf if math.isnan(c[2] - c[3]) else abs(c[2] - c[3]))
    fi, fj, fg, fw = next(c for c in cells if not is_close(c[2], c[3]))
    flat = not isinstance(want, Tensor) and len(want_rows) == 1  # a plain list: one index, not two

    def where(row: int, column: int) -> str:
        return f"index {column}" if flat else f"row {row}, column {column}"

    lines = [
        f"{what}: wrong values",
        f"  largest difference {abs(g - w):.3g} at {where(i, j)}: yours {g:.6g}, expected {w:.6g}",
        f"  first wrong value at {where(fi, fj)}: yours {fg:.6g}, expected {fw:.6g}",
    ]
    if numeric is not None:
        lines += numeric.lines(fi, fj, fw, where(fi, fj))
    matched = hints(got_rows, wrong() if wrong else {})
    raise WrongValues(lines, matched, near_miss(abs(g - w), abs(w), max(abs(v) for row in want_rows for v in row)) or [UNKNOWN])


@dataclass(frozen=True)
class FiniteDifference:
    """A gradient's entry computed again from its definition: the scalar f = the sum of dy times
    the stage's output, with one entry of an input moved by +-h.

    `entry(row, column)` gives the list that holds that entry and its index there (a Tensor's row,
    a Weight's column); f is recomputed with the entry moved, and the entry is put back exactly."""

    name: str  # the input, as the formula shows it: "x", "W", "b", ...
    f: Callable[[], float]
    entry: Callable[[int, int], tuple[list[float], int]]
    described: str  # what f is, in words
    before: Rows | None = None  # for a gradient buffer: what it held before, which the gradient adds to

    def value(self, row: int, column: int) -> float:
        holder, index = self.entry(row, column)
        original = holder[index]
        try:
            holder[index] = original + STEP
            up = self.f()
            holder[index] = original - STEP
            down = self.f()
        finally:
            holder[index] = original
        return (up - down) / (2 * STEP)

    def lines(self, row: int, column: int, expected: float, where: str) -> list[str]:
        n = self.name
        value = self.value(row, column)
        held = self.before[row][column] if self.before is not None else 0.0
        agrees = ", as expected" if abs(held + value - expected) <= 1e-6 * max(1.0, abs(expected)) else ""
        plus = f"; added to the {held:.6g} the buffer held, {held + value:.6g}" if self.before is not None else ""
        return [f"  by finite differences at {where}: (f({n} + h) - f({n} - h)) / 2h = {value:.6g}{plus}{agrees} "
                f"(h = {STEP:g}; f = {self.described})"]


STEP = 1e-5  # h: the difference quotient's own error is about h^2 (1e-10) plus rounding / h (1e-11)


UNKNOWN = "  (none of the classic mistakes this grader knows gives these numbers)"
UNKNOWN_RESULT = "  (none of the classic mistakes this grader knows gives this)"


@dataclass(frozen=True)
class Case:
    """One graded call of a check that has several: potatogpt's answer (computed first), a way to
    get the student's, and the known mistakes for this input."""

    what: str
    want: object
    got: Callable[[], object]
    wrong: Callable[[], Mapping[str, object]] | None = None
    shapes: Mapping[tuple[int, int], str] | None = None
    exact: bool = False  # compared with check_equal (ids, pieces) instead of check_close
    numeric: FiniteDifference | None = None  # a gradient: its first wrong entry by finite differences


def check_cases(cases: Sequence[Case]) -> None:
    """Run every case, then report the first wrong one; its hints are kept only when every other
    wrong case is explained by the same mistake (a coincidence on one input names nothing).  A
    crash after a wrong case reports the wrong case."""
    failures: list[WrongValues] = []
    for case in cases:
        try:
            got = case.got()
        except StudentCrashed:
            if failures:
                break
            raise
        try:
            if case.exact:
                assert isinstance(case.want, Sequence)
                check_equal(case.what, got, case.want, case.wrong)
            else:
                check_close(case.what, got, case.want, case.wrong, case.shapes, case.numeric)
        except WrongValues as wrong:
            failures.append(wrong)
    if not failures:
        return
    first, *others = failures
    if not others or not first.matched:
        raise first
    agreed = [hint for hint in first.matched if all(hint in other.matched for other in others)]
    raise first.keeping(agreed)


def near_miss(difference: float, expected: float, size: float) -> list[str]:
    """The line for a small but real difference (at a value `expected`, among values up to `size`),
    so it is not read as rounding."""
    if math.isnan(difference) or difference > NEAR_MISS * max(1.0, size):
        return []
    tolerance = ABS_TOL + REL_TOL * abs(expected)
    return [f"  a near miss: off by {difference:.2g}, {difference / tolerance:.0f} times the tolerance ({tolerance:.0e}); "
            f"a different order of the same arithmetic stays below {ROUNDING:.0e}, so this is not rounding: "
            "a constant or a formula is slightly off"]


def hints(got: Rows, wrong: Mapping[str, object]) -> list[str]:
    """The known-wrong variants that `got` matches (all of them, when several do)."""
    matched = []
    for hint, value in wrong.items():
        try:
            rows = as_rows(value, "variant")
        except Failed:
            continue
        if all_close(got, rows):
            matched.append(hint)
    return matched


def hint_lines(matched: Sequence[str]) -> list[str]:
    if len(matched) > 1:
        return [f"  {len(matched)} known mistakes give exactly these numbers (these inputs cannot tell them apart):",
                *(f"  hint: {hint}" for hint in matched)]
    return [f"  hint: {hint}" for hint in matched]


def check_equal(what: str, got: object, want: Sequence[object],
                wrong: Callable[[], Mapping[str, object]] | None = None) -> None:
    """Fail unless the list `got` equals `want` exactly (token ids, merged pieces); `wrong` as in
    check_close."""
    if not isinstance(got, list):
        missing = ": is a `return` missing?" if got is None else ""
        raise Failed([f"{what} returned {type(got).__name__}, not a list{missing}"])
    if got == list(want):
        return
    first = next((k for k, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    lines = [f"{what}: yours {short(got)}, expected {short(want)}", f"  first difference at position {first}"]
    raise WrongValues(lines, [hint for hint, value in (wrong() if wrong else {}).items()
                              if isinstance(value, Sequence) and got == list(value)],
                      [UNKNOWN_RESULT])


def short(items: Sequence[object], limit: int = 12) -> str:
    shown = ", ".join(map(repr, items[:limit]))
    return f"[{shown}{', ...' if len(items) > limit else ''}] ({len(items)} item{'' if len(items) == 1 else 's'})"


# --- The shared inputs ------------------------------------------------------------------------
class Lab:
    """The committed tiny checkpoints (exported on first use into `workdir`) and the tokenizer
    corpus, shared by every check of one run."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._models: dict[str, GPT2] = {}

    def folder(self, name: str) -> Path:
        """A committed tiny checkpoint, exported to potatogpt's format (once per run)."""
        folder = self.workdir / name
        if not folder.exists():
            convert(CHECKPOINTS / name, folder)
        return folder

    def model(self, name: str) -> GPT2:
        """A tiny checkpoint, loaded to run only the plain arithmetic (storage="reference")."""
        if name not in self._models:
            self._models[name] = load(self.folder(name), storage="reference")
        return self._models[name]

    def loaded(self) -> list[GPT2]:
        return list(self._models.values())

    @cached_property
    def tokenizer(self) -> Tokenizer:
        return Tokenizer.gpt2()

    @cached_property
    def ranks(self) -> dict[tuple[str, str], int]:
        """GPT-2's merges, by the order they were learned (vocab.bpe, after its #version line)."""
        lines = (DATA_DIR / "vocab.bpe").read_text(encoding="utf-8").splitlines()[1:]
        pairs = [line.split(" ") for line in lines if line]
        return {(first, second): rank for rank, (first, second) in enumerate(pairs)}

    @cached_property
    def corpus(self) -> list[tuple[str, list[int]]]:
        """2,264 hard texts with the ids tiktoken gives them (tests/fixtures/tokenizer_cases.json)."""
        raw = json.loads(TOKENIZER_CASES.read_text(encoding="ascii"))
        return [(str(text), [int(i) for i in ids]) for text, ids in raw["cases"]]

    def greedy_continuation(self, name: str) -> tuple[list[int], list[int]]:
        """The first greedy continuation Hugging Face transformers recorded for a checkpoint (in its
        reference.json, see tests/fixtures/README.md): the prompt's ids and the new ids."""
        first = json.loads((CHECKPOINTS / name / "reference.json").read_text(encoding="utf-8"))["greedy"][0]
        return [int(i) for i in first["prompt_ids"]], [int(i) for i in first["new_ids"]]


# --- Running one exercise -----------------------------------------------------------------------
@dataclass(frozen=True)
class Exercise:
    number: int
    stem: str  # the file name without .py: ex06_attention
    title: str
    functions: tuple[str, ...]  # what the student writes
    target: str  # the potatogpt module whose functions of the same names these replace
    check: Callable[[Solution, Lab], None]
    part: int = 1  # 1: the forward pass (plugged in by the finale), 2: the backward pass (by `train`)

    @property
    def file(self) -> Path:
        return EXERCISES_DIR / f"{self.stem}.py"


STATUSES = ("passed", "failed", "changed its input", "crashed", "timed out", "unfinished", "not started")


@dataclass(frozen=True)
class Report:
    exercise: Exercise
    status: str  # one of STATUSES
    lines: list[str]

    def __str__(self) -> str:
        head = f"ex{self.exercise.number:02d} {self.exercise.title}: {self.status}"
        return "\n".join([head, *("    " + line for line in self.lines)])


def grade(exercise: Exercise, solution: Solution, lab: Lab) -> Report:
    """Run one exercise's check in this process and say how it went, in a few lines (never a
    traceback)."""
    try:
        exercise.check(solution, lab)
    except NotWritten as stub:
        status = "unfinished" if stub.others_ran else "not started"
        return Report(exercise, status, [f"{stub.name}() still raises NotImplementedError"])
    except InputChanged as changed:
        return Report(exercise, "changed its input", changed.lines)
    except ExitCalled as stopped:
        return Report(exercise, "crashed", stopped.lines)
    except Failed as failure:
        return Report(exercise, "failed", failure.lines)
    except StudentCrashed as crash:  # the student's code raised: where, why, in the lesson's words
        return Report(exercise, "crashed", crash_lines(crash.error, solution.file, lab, crash.call))
    except RecursionError as error:
        return Report(exercise, "crashed", crash_lines(error, solution.file, lab, None))
    except Exception as error:  # raised while grading what the student returned
        return Report(exercise, "crashed", crash_lines(error, solution.file, lab, None))
    return Report(exercise, "passed", [])


# --- Crashes, in the student's terms -------------------------------------------------------------
def crash_lines(error: BaseException, file: Path | None, lab: Lab | None, call: str | None) -> list[str]:
    """The error, the line of the student's file it came from, what was expected there (when the
    error is potatogpt's, raised because of what that line passed it), and the graded call."""
    if isinstance(error, SyntaxError):
        return [f"SyntaxError: {error.msg}", f"at {readable(file)}, line {error.lineno}: {(error.text or '').strip()}"]
    frames = traceback.extract_tb(error.__traceback__)
    tb_frames = list(walk_tb(error.__traceback__))
    mine = [k for k, f in enumerate(frames) if file is not None and Path(f.filename) == file]
    callee = frames[mine[-1] + 1] if mine and mine[-1] + 1 < len(frames) else None
    callee_locals = tb_frames[mine[-1] + 1].tb_frame.f_locals if callee is not None and mine[-1] + 1 < len(tb_frames) else {}
    # (exercises/backprop.py holds potatogpt's backward pieces, with the lessons' signatures)
    inside_potatogpt = callee is not None and (POTATOGPT_DIR in Path(callee.filename).parents
                                               or Path(callee.filename) == EXERCISES_DIR / "backprop.py")
    explained = explain(error, callee.name if callee else None, callee_locals, lab, call or "")
    if inside_potatogpt and explained and not explained[0].startswith("hint: "):
        lines, rest = [explained[0]], explained[1:]  # (potatogpt's message, said in the lesson's words)
    else:
        lines, rest = [f"{type(error).__name__}: {one_line(error)}"], explained
        if inside_potatogpt and callee is not None:
            rest = [f"(raised inside potatogpt's {callee.name}(), called from your line)", *rest]
    if mine:
        line = frames[mine[-1]]
        lines.append(f"at {readable(file)}, line {line.lineno}: {line.line}")
    lines += [f"  {r}" for r in rest]
    if call:
        lines.append(f"(while grading {call})")
    return lines


def walk_tb(tb: TracebackType | None) -> Iterator[TracebackType]:
    while tb is not None:
        yield tb  # (tb.tb_frame is the frame; kept as the traceback for f_locals below)
        tb = tb.tb_next


def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else ""


def shape_names(lab: Lab | None) -> dict[tuple[int, int], str]:
    """What a shape is, in the lesson's words, for the loaded tiny models."""
    names: dict[tuple[int, int], str] = {}
    for gpt in lab.loaded() if lab else []:
        c = gpt.config
        e = c.n_embd
        names.setdefault((c.vocab_size, e), "params.wte (one row per token id)")
        names.setdefault((c.n_ctx, e), "params.wpe (one row per position)")
        names.setdefault((e, 3 * e), "attn.c_attn's weight (n_embd -> 3 * n_embd)")
        names.setdefault((e, 4 * e), "mlp.c_fc's weight (n_embd -> 4 * n_embd)")
        names.setdefault((4 * e, e), "mlp.c_proj's weight (4 * n_embd -> n_embd)")
        names.setdefault((e, e), "attn.c_proj's weight (n_embd -> n_embd)")
        names.setdefault((e, c.vocab_size), "params.wte.T (n_embd -> one logit per token)")
        names.setdefault((e, c.n_ctx), "params.wpe.T (it scores positions, not tokens)")
    return names


def sizes(lab: Lab | None) -> list[tuple[int, int, int, int, int]]:
    """(n_embd, n_head, head_dim, n_ctx, vocab_size) of the loaded models."""
    return [(g.config.n_embd, g.config.n_head, g.config.head_dim, g.config.n_ctx, g.config.vocab_size)
            for g in (lab.loaded() if lab else [])]


def explain(error: BaseException, callee: str | None, local: Mapping[str, object], lab: Lab | None,
            call: str) -> list[str]:
    """What a crash means in the lesson's words; [] when there is nothing to add."""
    message = str(error)
    named = shape_names(lab)
    if isinstance(error, RecursionError):
        return ["hint: a function that calls itself without end: call an earlier piece through its module (model.attention(...), model.layer_norm(...)); "
                "a plain `attention(...)` inside your own attention calls yours again"]
    if isinstance(error, NameError):
        name = getattr(error, "name", None) or (re.findall(r"'(\w+)'", message) or [""])[0]
        if callable(getattr(model, name, None)):
            return [f"hint: `{name}` is an earlier piece: call it through the module, model.{name}(...)"]
        return []
    if isinstance(error, OverflowError) and message == "math range error":
        return ["hint: exp() of a large number overflows: subtract the row's largest value before exp(); it cancels out"]
    if isinstance(error, ZeroDivisionError) and call.startswith("layer_norm("):
        return ["hint: a row whose values are all equal has variance 0, and that is what eps is for: "
                "divide by sqrt(variance + eps)"]
    if isinstance(error, ValueError) and "empty" in message and "max()" in message and call.startswith("attention"):
        return ["hint: max() of an empty list: a row with no visible column; query row i sees columns "
                "0 .. past + i, with past = k_t.n_out - q.n_rows (never negative)"]
    if isinstance(error, TypeError) and "Tensor" in message and "subscriptable" in message:
        return ["hint: a Tensor is not a list: read its numbers with x.rows[i][j] or x.row(i)"]
    if isinstance(error, TypeError) and "unsupported operand" in message and "Tensor" in message:
        return ["hint: tensors combine with @ (a matrix product), + (same shape, or one row added to every row) "
                "and * by a number; anything else, do it on the lists in .rows"]
    found = re.search(r"'(Block|Params|Attention|MLP)' object has no attribute '(\w+)'", message)
    if isinstance(error, AttributeError) and found and call.endswith("_backward", 0, call.find("(")):
        pieces = {"Block": "grad.ln_1, grad.attn, grad.ln_2, grad.mlp", "Params": "grad.wte, grad.wpe, grad.h[i], grad.ln_f",
                 "Attention": "grad.c_attn, grad.c_proj", "MLP": "grad.c_fc, grad.c_proj"}[found[1]]
        return [f"hint: a whole {found[1]} buffer was handed to a piece that takes one part of it: give each piece "
                f"its own part ({pieces})"]
    if isinstance(error, ValueError) and message == "math domain error" and call.startswith("adamw_update("):
        return ["hint: the square root (or log) of a negative number: exp_avg_sq is a running mean of g * g, "
                "never negative; is g * g in its update?"]
    if isinstance(error, AttributeError) and "'list' object has no attribute" in message:
        return ["hint: a list where a Tensor is expected: from_rows(rows, n_rows, n_cols) makes one"]

    found = re.search(r"append_(column|row): (\d+) values for a weight of shape \((\d+), (\d+)\)", message)
    if found:
        kind, got = found[1], int(found[2])
        want = int(found[3]) if kind == "column" else int(found[4])
        which = "cache.keys[h].append_column(key): K^T" if kind == "column" else "cache.values[h].append_row(value): V"
        line = f"{which} of one head takes one {'key' if kind == 'column' else 'value'} of head_dim = {want} numbers per new token, and yours had {got}"
        why = ""
        for n_embd, n_head, head_dim, _ctx, _vocab in sizes(lab):
            if head_dim == want and got == n_embd:
                why = "that is every head's: cut k and v into heads first, k.split_columns(n_head, head_dim)"
            elif head_dim == want and got == 3 * n_embd:
                why = "that is a whole row of qkv: split it into q, k, v first, then each into heads"
            elif head_dim == want and got == n_head:
                why = ("split_columns(parts, width) takes the number of heads first, then head_dim: "
                       "are the two swapped?")
            elif head_dim == want and got == 0:
                why = "an empty list: are you appending a row of an empty tensor?"
        return [line] + ([f"hint: {why}"] if why else [])

    found = re.search(r"softmax_rows: row (\d+) has no visible column \(offset (-?\d+)\)", message)
    if found:
        offset = int(found[2])
        if callee == "softmax_rows":
            return [f"softmax_rows(causal_offset={offset}): row i sees columns 0 .. offset + i, so row {found[1]} saw none",
                    "hint: the offset is past = k_t.n_out - q.n_rows, the positions before the first query (never negative)"]
        return [f"attention was given {-offset} more queries than keys: query row i sees keys 0 .. past + i, "
                f"with past = k_t.n_out - q.n_rows = {offset}",
                "hint: the new tokens' keys and values join the cache BEFORE attention reads it"]

    found = re.search(r"lookup: index (-?\d+) is out of range for a table of shape \((\d+), (\d+)\)", message)
    if found:
        index, rows = int(found[1]), int(found[2])
        table = named.get((rows, int(found[3])), "the table")
        line = f"lookup: there is no row {index} in {table}: it has rows 0 .. {rows - 1}"
        if "wpe" in table and index >= rows and index < max([r for r, _ in named] or [0]) and index > 2 * rows:
            why = "that looks like a token id: token ids pick rows of wte, positions (start, start + 1, ...) rows of wpe"
        elif "wpe" in table and index == rows:
            why = (f"one past the last position: the new tokens sit at positions start .. start + len(ids) - 1, "
                   f"and a prompt may fill all {rows}")
        elif "wpe" in table and index < 0:
            why = "a negative position: the first new token is at position `start` (kv_cache.length), never before 0"
        elif "wpe" in table:
            why = "the new tokens sit at positions start .. start + len(ids) - 1"
        else:
            why = "only token ids (0 .. vocab_size - 1) pick rows of wte"
        return [line, f"hint: {why}"]

    found = re.search(r"lookup: (\d+) indices for (\d+) rows", message)
    if found:
        why = ("the new tokens' positions are range(start, start + len(ids)), one per id" if call.startswith("embed(")
               else "n is how many rows come out, one per index: Seq(len(ids))")
        return [f"lookup(indices, n): {found[1]} indices, but n says {found[2]} rows", f"hint: {why}"]

    found = re.search(r"matmul: \((\d+), (\d+)\) @ \((\d+), (\d+)\)", message)
    if found:
        left, right = (int(found[1]), int(found[2])), (int(found[3]), int(found[4]))
        name = named.get(right)
        if call.startswith("mha_backward(") and any(left[1] == e and right[0] == d for e, _h, d, *_r in sizes(lab)):
            return [f"a @ b needs a's columns to match b's rows: yours is {left} @ {right}, {left[1]} columns "
                    f"against {right[0]} rows",
                    "hint: a head's gradient is its own head_dim columns of the heads' gradient, not all n_embd: "
                    "split it, d_heads.split_columns(n_head, head_dim), and give head h its part"]
        return [f"a @ b needs a's columns to match b's rows: yours is {left} @ {right}"
                f"{f' ({name})' if name else ''}, {left[1]} columns against {right[0]} rows",
                "hint: check which matrix each product takes (the lesson's formula, and the shapes in the stub's types)"]

    found = re.search(r"add: cannot add a tensor of shape \((\d+), (\d+)\) to one of shape \((\d+), (\d+)\)", message)
    if found:
        return [f"+ of a {(int(found[3]), int(found[4]))} and a {(int(found[1]), int(found[2]))} tensor: "
                "+ takes two tensors of the same shape, or one row added to every row"]

    found = re.search(r"split_columns: shape \((\d+), (\d+)\) does not split into (\d+) blocks of (\d+) columns", message)
    if found:
        cols, parts, width = int(found[2]), int(found[3]), int(found[4])
        line = f"split_columns({parts}, {width}): {parts} blocks of {width} columns do not make the {cols} columns there are"
        why = "split_columns(parts, width): parts * width must be the number of columns"
        for n_embd, n_head, head_dim, _ctx, _vocab in sizes(lab):
            if cols == n_embd and parts != n_head:
                why = f"n_head is config.n_head = {n_head} here; head_dim = n_embd // n_head = {head_dim}"
            if cols == 3 * n_embd and parts == 3:
                why = "the second argument is the width of q (n_embd), x.n_cols"
        return [line, f"hint: {why}"]

    found = re.search(r"from_columns: data is not (\d+) columns of (\d+) values", message)
    if found:
        return [f"from_columns(columns, {found[2]}, {found[1]}): the columns must be {found[1]} lists of {found[2]} "
                "numbers each",
                "hint: from_columns takes a tensor's columns; a Weight's .columns are the columns of the matrix it "
                "holds (K^T's are keys, V's are channels): which one is yours?"]

    found = re.search(r"from_rows: data is not (\d+) rows of (\d+) values", message)
    if found:
        data = local.get("rows")
        if isinstance(data, list):
            widths = sorted({len(r) for r in data if isinstance(r, (list, tuple))})
            held = f"yours are {len(data)} rows of {', '.join(map(str, widths)) or 'no'} values"
        else:
            held = "yours are not"
        return [f"from_rows(rows, {found[1]}, {found[2]}): the rows must be {found[1]} lists of {found[2]} numbers; {held}"]

    found = re.search(r"layer_norm: (gain|bias) has shape \(1, (\d+)\), expected \(1, (\d+)\)", message)
    if found:
        channels, cols = int(found[2]), int(found[3])
        why = ""
        if any(cols == v for *_r, v in sizes(lab)):
            why = "hint: those are logits: the final layer norm normalises the stream's channels, before the output layer"
        return [f"layer_norm was given a tensor of {cols} columns; a layer norm of this model normalises {channels} "
                "channels (n_embd)"] + ([why] if why else [])

    found = re.search(r"concat_columns: blocks (.*) do not make (\d+) rows of (\d+) columns", message)
    if found:
        return [f"concat_columns(parts, width): the parts {found[1]} do not make {found[2]} rows of {found[3]} columns",
                "hint: the width is what the heads add up to, n_embd (x.n_cols), and every head has the same rows"]

    found = re.search(r"accumulate: a gradient of shape \((\d+), (\d+)\) into a buffer of shape \((\d+), (\d+)\)", message)
    if found:
        got_shape, want_shape = (int(found[1]), int(found[2])), (int(found[3]), int(found[4]))
        why = ("it is the transpose of what the buffer holds: a weight's gradient has the weight's shape, dW = x^T @ dy"
               if got_shape == want_shape[::-1] else
               "a gradient has exactly the shape of what it is the gradient of (a bias's: one row)")
        return [f"accumulate(into, gradient): a gradient of shape {got_shape} for a buffer of shape {want_shape}",
                f"hint: {why}"]

    found = re.search(r"take_rows: index (-?\d+) is out of range for a tensor of shape \((\d+), (\d+)\)", message)
    if found:
        return [f"take_rows: row {found[1]} does not exist in a tensor of {found[2]} rows (0 .. {int(found[2]) - 1})",
                "hint: the last row is x.n_rows - 1"]
    return []


def readable(file: Path | None) -> str:
    """A path as short as it can be: relative to the current folder when it is inside it."""
    if file is None:
        return "your solution"
    try:
        return str(file.relative_to(Path.cwd()))
    except ValueError:
        return str(file)


# --- One exercise in a process of its own ---------------------------------------------------------
def grade_file(exercise: Exercise, path: Path, lab: Lab, time_limit: float = TIME_LIMIT) -> Report:
    """Grade one solution file in a child process: at most `time_limit` seconds, its printed
    output captured (and cut to OUTPUT_LIMIT characters), its exit or crash reported as a verdict."""
    for name in (TINY, VOCAB):  # (exported once, here, for every grading process)
        lab.folder(name)
    with tempfile.TemporaryDirectory(prefix="potatogpt-grade-") as scratch:
        report_file, calling_file = Path(scratch) / "report.json", Path(scratch) / "calling.txt"
        code = ("import sys; sys.path.insert(0, sys.argv[1]); from exercises.grader import child_main; "
                "child_main(sys.argv[2:])")
        command = [sys.executable, "-c", code, str(ROOT), str(exercise.number), str(path.resolve()),
                   str(lab.workdir), str(report_file), str(calling_file)]
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        output = CappedOutput(process.stdout)
        try:
            process.wait(timeout=time_limit)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            stop(process)
        except BaseException:  # (a Ctrl-C while it runs: the grading process must not outlive the grader)
            stop(process)
            raise
        output.join()
        calling = calling_file.read_text(encoding="utf-8").strip() if calling_file.exists() else ""
        if timed_out:
            lines = [f"still running after {time_limit:g} s{f', in {calling}' if calling else ''}, so it was stopped",
                     "  hint: an endless loop, or work repeated inside a loop (a sum recomputed for every "
                     "element: see 'Mind the cost' in exercise 11)"]
            return Report(exercise, "timed out", lines + output.lines())
        try:
            saved = json.loads(report_file.read_text(encoding="utf-8"))
            return Report(exercise, str(saved["status"]), [str(line) for line in saved["lines"]] + output.lines())
        except (OSError, ValueError, KeyError, TypeError):
            status = process.returncode
            how = (f"was killed by signal {-status}{' (out of memory?)' if -status == signal.SIGKILL else ''}"
                   if status < 0 else f"ended with exit status {status} (os._exit?)")
            lines = [f"the grading process {how}{f' while {calling} ran' if calling else ''}, before a verdict",
                     "  an exercise function must return its result, never end the program"]
            return Report(exercise, "crashed", lines + output.lines())


def stop(process: subprocess.Popen[bytes]) -> None:
    """End the child and anything it started (its own process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.wait()


class CappedOutput:
    """Reads a child's output as it comes (so it never blocks on a full pipe), keeping only the
    first OUTPUT_LIMIT characters and counting the rest."""

    def __init__(self, stream: IO[bytes] | None) -> None:
        self.kept = bytearray()
        self.total = 0
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        while chunk := os.read(stream.fileno(), 65536):  # (whatever has arrived, up to 64 KiB)
            self.total += len(chunk)
            if len(self.kept) < OUTPUT_LIMIT:
                self.kept += chunk[: OUTPUT_LIMIT - len(self.kept)]
        stream.close()

    def join(self) -> None:
        self._thread.join(timeout=5)

    def lines(self) -> list[str]:
        if not self.total:
            return []
        text = self.kept.decode("utf-8", "replace").splitlines()[:8]
        cut = f", the first {len(self.kept):,} shown" if self.total > len(self.kept) else ""
        return [f"your code printed {self.total:,} characters{cut} (the grader ignores prints):",
                *(f"  | {line[:160]}" for line in text)]


class StandardLibraryOnly(importlib.abc.MetaPathFinder):
    """Refuses, in a grading process, the import of anything outside the standard library,
    potatogpt and the exercises: the lab is pure Python."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        top = fullname.partition(".")[0]
        allowed = top in sys.stdlib_module_names or top in ("potatogpt", "exercises") or top.startswith("_solution_")
        if not allowed:
            raise ImportError(f"the exercises use the standard library and potatogpt only, so `import {top}` "
                              "is refused: write it with lists and floats", name=fullname)
        return None  # (let the ordinary finders find it)


def child_main(argv: Sequence[str]) -> None:
    """The grading process: grade one file and write the report (JSON) to a file of its own,
    which the student's prints cannot reach.  Runs as `grade_file` starts it."""
    number, path, workdir, report_file, calling_file = argv
    from .checks import EXERCISES  # (checks imports this module: imported only once both exist)

    def save(report: Report) -> None:
        Path(report_file).write_text(json.dumps({"status": report.status, "lines": report.lines}), encoding="utf-8")

    exercise = next(e for e in EXERCISES if e.number == int(number))
    lab = Lab(Path(workdir))
    try:
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
        sys.meta_path.insert(0, StandardLibraryOnly())
        try:
            solution = load_solution(Path(path))
        except SystemExit as stop_:
            save(Report(exercise, "crashed", [f"your file called sys.exit({stop_.code!r}) while being imported"]))
            return
        except BaseException as error:
            save(Report(exercise, "crashed", ["could not import it:", *crash_lines(error, Path(path), None, None)]))
            return

        def calling(call: str) -> None:
            Path(calling_file).write_text(call, encoding="utf-8")

        solution.on_call = calling
        save(grade(exercise, solution, lab))
    except BaseException as error:  # sys.exit outside an exercise call, or the grader's own bug: one line
        save(Report(exercise, "crashed", [f"grading stopped: {type(error).__name__}: {one_line(error)}"]))
    finally:
        sys.stdout.flush()
        os._exit(0)  # (skips the student's atexit handlers and threads: the verdict is written)


@contextmanager
def plugged_in(module: ModuleType, functions: Mapping[str, Callable[..., object]]) -> Iterator[None]:
    """Replace some of a module's functions for the length of a `with`, then put them back.

    potatogpt's functions call each other through their module's globals (model.mha calls
    `attention`, whatever `potatogpt.model.attention` is at that moment), so this is enough to
    run GPT-2 with some of its pieces written by you.
    """
    saved = {name: getattr(module, name) for name in functions}
    try:
        for name, function in functions.items():
            setattr(module, name, function)
        yield
    finally:
        for name, original in saved.items():
            setattr(module, name, original)


@dataclass(frozen=True)
class Passing:
    """What a folder of solutions passes: each passing exercise with its functions, and the others
    with their verdict (the finale and `train` plug in the first, and say both)."""

    passed: list[tuple[Exercise, dict[str, Callable[..., object]]]]
    others: list[str]  # "ex06 (failed)"

    def summary(self) -> str:
        yours = ", ".join(f"ex{exercise.number:02d}" for exercise, _functions in self.passed)
        return f"yours: {yours or 'nothing yet'}; potatogpt's: {', '.join(self.others) or 'nothing'}"


def passing(folder: Path, exercises: Sequence[Exercise], lab: Lab, time_limit: float = TIME_LIMIT) -> Passing:
    """Grade each of `exercises` in `folder`; the functions of those that pass."""
    passed, others = [], []
    for exercise in exercises:
        path = solution_path(folder, exercise)
        status = grade_file(exercise, path, lab, time_limit).status
        if status == "passed":
            solution = load_solution(path)
            passed.append((exercise, {name: solution.function(name) for name in exercise.functions}))
        else:
            others.append(f"ex{exercise.number:02d} ({status})")
    return Passing(passed, others)


def print_reports(reports: Sequence[Report], *, summary_only: bool = False) -> None:
    if not summary_only:
        for report in reports:
            print(report)
    counts = {status: sum(r.status == status for r in reports) for status in STATUSES}
    print("\n" + ", ".join(f"{n} {status}" for status, n in counts.items() if n), file=sys.stderr)


def solution_path(folder: Path, exercise: Exercise) -> Path:
    return folder / f"{exercise.stem}.py"
