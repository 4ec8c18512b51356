"""The second grader: your functions against potatogpt's own, on the committed tiny checkpoints.

A check (checks.py) feeds the same inputs to your function and to potatogpt's, and compares.
When they differ it reports the largest difference and the first wrong position, then looks for
the classic mistake: it computes each known-wrong variant (no 1/sqrt(head_dim) scale, a mask off
by one, ...) and names the one your output matches, if any.  Nothing is downloaded: the tiny
checkpoints under checkpoints/ are exported into a temporary folder.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType

from potatogpt.api import GPT2, load
from potatogpt.convert.export import convert
from potatogpt.tensor import Tensor
from potatogpt.tokenizer import Tokenizer
from potatogpt.weights.vocab_files import DATA_DIR

ROOT = Path(__file__).resolve().parent.parent
EXERCISES_DIR = Path(__file__).resolve().parent
CHECKPOINTS = ROOT / "checkpoints"
TOKENIZER_CASES = ROOT / "tests" / "fixtures" / "tokenizer_cases.json"

# Two computations of the same number in a different order differ in the last few bits; the
# classic mistakes differ by far more (leaving out eps changes a layer norm by about 1e-4).
ABS_TOL = 1e-6
REL_TOL = 1e-6

Rows = list[list[float]]


# --- How a check ends -------------------------------------------------------------------------
class Failed(Exception):
    """A check found a wrong value; `lines` say what, where, and (if known) why."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class NotWritten(Exception):
    """A function still raises NotImplementedError."""

    def __init__(self, name: str, others_ran: bool) -> None:
        super().__init__(name)
        self.name = name
        self.others_ran = others_ran  # an earlier function of the same exercise already ran


class Solution:
    """A student's exercise module.  Its functions are called through `call`, which tells a stub
    that is not written yet apart from a function that runs."""

    def __init__(self, module: object, file: Path | None) -> None:
        self.module = module
        self.file = file
        self.calls_done = 0

    def function(self, name: str) -> Callable[..., object]:
        found: object = getattr(self.module, name, None)
        if not callable(found):
            where = self.file.name if self.file else "the solution"
            raise Failed([f"{where} has no function {name}()"])
        return found

    def call(self, name: str, *args: object) -> object:
        function = self.function(name)
        try:
            result = function(*args)
        except NotImplementedError:
            raise NotWritten(name, self.calls_done > 0) from None
        self.calls_done += 1
        return result


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
    if isinstance(value, Tensor):
        return [list(map(float, row)) for row in value.rows]
    if isinstance(value, list) and all(isinstance(v, (int, float)) for v in value):
        return [[float(v) for v in value]]
    if isinstance(value, list) and all(isinstance(r, list) for r in value):
        return [[float(v) for v in row] for row in value]
    raise Failed([f"{what} returned {value!r:.60}, not numbers"])


def shape_of(rows: Rows) -> tuple[int, int]:
    return (len(rows), len(rows[0]) if rows else 0)


def is_close(got: float, want: float) -> bool:
    return abs(got - want) <= ABS_TOL + REL_TOL * abs(want)  # False for NaN, as it should be


def all_close(got: Rows, want: Rows) -> bool:
    return shape_of(got) == shape_of(want) and all(
        len(g) == len(w) and all(map(is_close, g, w)) for g, w in zip(got, want)
    )


def check_close(what: str, got: object, want: object, wrong: Callable[[], Mapping[str, object]] | None = None) -> None:
    """Fail unless `got` equals `want` to rounding.  `wrong` computes, only when needed, a hint
    for each classic mistake with the value that mistake gives; the hints `got` matches are
    reported."""
    if isinstance(want, Tensor) and not isinstance(got, Tensor):  # (the finale needs a real Tensor)
        kind = "None: is a `return` missing?" if got is None else f"a {type(got).__name__}, not a Tensor"
        raise Failed([f"{what} returned {kind}", "  hint: from_rows(rows, n_rows, n_cols) makes a Tensor of lists"])
    got_rows, want_rows = as_rows(got, what), as_rows(want, "potatogpt")
    if shape_of(got_rows) != shape_of(want_rows) or any(len(r) != len(want_rows[0]) for r in got_rows):
        raise Failed([f"{what}: yours has shape {shape_of(got_rows)}, expected {shape_of(want_rows)}"])
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
    raise Failed(lines + hints(got_rows, wrong() if wrong else {}))


def hints(got: Rows, wrong: Mapping[str, object]) -> list[str]:
    """The hints of the known-wrong variants that `got` matches."""
    matched = [f"  hint: {hint}" for hint, value in wrong.items() if all_close(got, as_rows(value, "variant"))]
    return matched or ["  (none of the classic mistakes this grader knows gives these numbers)"]


def check_equal(what: str, got: object, want: Sequence[object],
                wrong: Callable[[], Mapping[str, Sequence[object]]] | None = None) -> None:
    """Fail unless the list `got` equals `want` exactly (token ids, merged pieces); `wrong` as in
    check_close."""
    if not isinstance(got, list):
        missing = ": is a `return` missing?" if got is None else ""
        raise Failed([f"{what} returned {type(got).__name__}, not a list{missing}"])
    if got == list(want):
        return
    first = next((k for k, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    lines = [f"{what}: yours {short(got)}, expected {short(want)}", f"  first difference at position {first}"]
    matched = [f"  hint: {hint}" for hint, value in (wrong() if wrong else {}).items() if got == list(value)]
    raise Failed(lines + (matched or ["  (none of the classic mistakes this grader knows gives this)"]))


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

    @property
    def file(self) -> Path:
        return EXERCISES_DIR / f"{self.stem}.py"


STATUSES = ("passed", "failed", "crashed", "unfinished", "not started")


@dataclass(frozen=True)
class Report:
    exercise: Exercise
    status: str  # one of STATUSES
    lines: list[str]

    def __str__(self) -> str:
        head = f"ex{self.exercise.number:02d} {self.exercise.title}: {self.status}"
        return "\n".join([head, *("    " + line for line in self.lines)])


def grade(exercise: Exercise, solution: Solution, lab: Lab) -> Report:
    """Run one exercise's check and say how it went, in a few lines (never a traceback)."""
    try:
        exercise.check(solution, lab)
    except NotWritten as stub:
        status = "unfinished" if stub.others_ran else "not started"
        return Report(exercise, status, [f"{stub.name}() still raises NotImplementedError"])
    except Failed as failure:
        return Report(exercise, "failed", failure.lines)
    except Exception as error:  # the student's code crashed: say where, in one line or two
        return Report(exercise, "crashed", crash_lines(error, solution.file))
    return Report(exercise, "passed", [])


def grade_file(exercise: Exercise, path: Path, lab: Lab) -> Report:
    """Import a solution file and grade it; a file that does not even import is 'crashed'."""
    try:
        solution = load_solution(path)
    except Exception as error:
        return Report(exercise, "crashed", ["could not import it:", *crash_lines(error, path)])
    return grade(exercise, solution, lab)


def crash_lines(error: BaseException, file: Path | None) -> list[str]:
    """The error, and the last line of the student's file it passed through."""
    if isinstance(error, SyntaxError):
        return [f"SyntaxError: {error.msg}", f"at {readable(file)}, line {error.lineno}: {(error.text or '').strip()}"]
    lines = [f"{type(error).__name__}: {error}"]
    frames = [f for f in traceback.extract_tb(error.__traceback__) if file is not None and Path(f.filename) == file]
    if frames:
        lines.append(f"at {readable(file)}, line {frames[-1].lineno}: {frames[-1].line}")
    return lines


def readable(file: Path | None) -> str:
    """A path as short as it can be: relative to the current folder when it is inside it."""
    if file is None:
        return "your solution"
    try:
        return str(file.relative_to(Path.cwd()))
    except ValueError:
        return str(file)


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


def print_reports(reports: Sequence[Report], *, summary_only: bool = False) -> None:
    if not summary_only:
        for report in reports:
            print(report)
    counts = {status: sum(r.status == status for r in reports) for status in STATUSES}
    print("\n" + ", ".join(f"{n} {status}" for status, n in counts.items() if n), file=sys.stderr)


def solution_path(folder: Path, exercise: Exercise) -> Path:
    return folder / f"{exercise.stem}.py"
