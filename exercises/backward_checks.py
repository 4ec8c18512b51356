"""What the backward exercises (12 to 20) share: their inputs, gradient buffers with something
already in them, and finite differences.

Every gradient is checked twice.  Against potatogpt's own backward (potatogpt/backward.py, through
exercises/backprop.py), on real activations of the tiny checkpoints; and where yours is wrong, the
first wrong entry is computed again from the definition of a derivative, by finite differences on
f = the sum of dy times the stage's output, so the report shows the true value without taking
potatogpt's word for it.

Gradient buffers are handed over with numbers already in them (as if an earlier row of the batch,
or the other use of a shared weight, had added its part): a function that writes its gradient over
the buffer instead of adding into it gives wrong numbers, and is told so.  The modules
checks_ex12.py ... checks_ex20.py hold each exercise's check.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import TypeVar

from potatogpt.api import GPT2
from potatogpt.tensor import Embedding, Tensor, Weight, dot

from .grader import TINY, Case, Failed, FiniteDifference, Lab, Rows, as_rows, check_cases, fresh_copy

R = TypeVar("R", bound=int)
C = TypeVar("C", bound=int)
T = TypeVar("T")

# --- Inputs ---------------------------------------------------------------------------------------
def tiny(lab: Lab) -> GPT2:
    """tiny-prefixed (3 blocks, 4 heads, 32 channels), loaded to run only the plain arithmetic."""
    return lab.model(TINY)


def upstream(n_rows: R, n_cols: C, seed: int = 0) -> Tensor[R, C]:
    """dy: a gradient arriving from the stages above (fixed pseudo-random numbers of about 0.1)."""
    rng = random.Random(f"dy {seed} {n_rows} {n_cols}")
    return Tensor(n_rows, n_cols, [[rng.gauss(0.0, 0.1) for _ in range(n_cols)] for _ in range(n_rows)])


# --- Gradient buffers -------------------------------------------------------------------------------
def prefilled(buffer: T, seed: int = 1) -> T:
    """`buffer` (a zero gradient buffer: a Linear, LayerNorm, MLP, ..., Params) with small known
    numbers put in, as if another row had added its gradient already."""
    rng = random.Random(f"buffer {seed}")
    for _name, vectors in named_vectors(buffer):
        for vector in vectors:
            vector[:] = [rng.uniform(-0.05, 0.05) for _ in vector]
    return buffer


def named_vectors(buffer: object, prefix: str = "grad") -> Iterator[tuple[str, list[list[float]]]]:
    """Each tensor of a buffer with its name (grad.weight, grad.c_fc.bias, grad.h[0].ln_1.weight,
    grad.wte), as the lists that hold its numbers (a Tensor's rows, a Weight's columns)."""
    if isinstance(buffer, Tensor):
        yield prefix, buffer.rows
    elif isinstance(buffer, Weight):
        yield prefix, buffer.columns
    elif isinstance(buffer, Embedding):
        yield prefix, buffer.T.columns  # (a table's rows are the columns of its transpose)
    elif isinstance(buffer, list):
        for i, item in enumerate(buffer):
            yield from named_vectors(item, f"{prefix}[{i}]")
    elif dataclasses.is_dataclass(buffer) and not isinstance(buffer, type):
        for field in dataclasses.fields(buffer):
            yield from named_vectors(getattr(buffer, field.name), f"{prefix}.{field.name}")


def tensor_at(buffer: object, name: str) -> object:
    """The Tensor, Weight or Embedding called `name` (as named_vectors names it) in `buffer`."""
    value = buffer
    for part in name.replace("[", ".[").split(".")[1:]:
        value = value[int(part[1:-1])] if part.startswith("[") else getattr(value, part)  # type: ignore[index]  # (a list, by the name's [i])
    return value


def rows_of(value: object) -> Rows:
    """A gradient's numbers as the lessons write them: a Weight as W's rows, an Embedding as its table."""
    if isinstance(value, Embedding):
        return [list(row) for row in value.T.columns]
    return as_rows(value, "a gradient")


def difference(after: object, before: object) -> Rows:
    return [[a - b for a, b in zip(ra, rb)] for ra, rb in zip(rows_of(after), rows_of(before))]


# --- Finite differences ---------------------------------------------------------------------------------
def summed_against(dy: Tensor[R, C], forward: Callable[[], Tensor[R, C]]) -> Callable[[], float]:
    """f = the sum over every entry of dy times the stage's output: d f / d input is exactly the
    gradient a *_backward returns for that dy."""
    return lambda: sum(dot(d, y) for d, y in zip(dy.rows, forward().rows))


def entry_of(value: object) -> Callable[[int, int], tuple[list[float], int]]:
    """Where entry (row, column) of a Tensor, a Weight (W[row][column]) or a table lives."""
    if isinstance(value, Tensor):
        return lambda i, j: (value.rows[i], j)
    if isinstance(value, Weight):
        return lambda i, j: (value.columns[j], i)
    if isinstance(value, Embedding):
        return lambda i, j: (value.T.columns[i], j)
    raise TypeError(f"no entries in a {type(value).__name__}")


def finite_difference(name: str, value: object, f: Callable[[], float], described: str) -> FiniteDifference:
    return FiniteDifference(name, f, entry_of(value), described)


# --- Checking what a backward returned and added ------------------------------------------------------------
OVERWRITTEN = ("{name} was overwritten: add your gradient into it (+=), never assign it; what was there already "
               "(another row of the batch, or the other use of a shared weight) must stay in the sum")
LEFT_ALONE = "nothing was added into {name}: a parameter's gradient goes into the buffer `grad`, added to what is there"


def buffer_cases(what: str, got: object, want: object, before: object,
                 numeric: Mapping[str, FiniteDifference] | None = None,
                 wrong: Callable[[str], Mapping[str, object]] | None = None,
                 only: Sequence[str] | None = None) -> list[Case]:
    """One Case per tensor of a gradient buffer: `got` (the one your function filled), `want`
    (potatogpt's, from the same starting numbers), `before` (those starting numbers).  Besides the
    mistakes `wrong(name)` names, each knows two of its own: the buffer overwritten, and left
    alone.  `only` limits the check to some tensors; the others must be unchanged."""
    cases = []
    for name, _vectors in named_vectors(want):
        got_value, want_value, before_value = (tensor_at(b, name) for b in (got, want, before))
        if only is not None and name not in only:
            cases.append(Case(f"{what}: {name}", rows_of(before_value), partial(rows_of, got_value),
                              partial(untouched, name, got_value)))
            continue
        fd = (numeric or {}).get(name)
        if fd is not None:
            fd = dataclasses.replace(fd, before=rows_of(before_value))
        cases.append(Case(f"{what}: {name}", rows_of(want_value), partial(rows_of, got_value),
                          partial(buffer_variants, name, want_value, before_value, wrong), numeric=fd))
    return cases


def untouched(name: str, got: object) -> dict[str, object]:
    return {f"{name} was changed, but this function's gradient has no part in it: leave it as it was": rows_of(got)}


def buffer_variants(name: str, want: object, before: object,
                    wrong: Callable[[str], Mapping[str, object]] | None) -> dict[str, object]:
    known: dict[str, object] = {OVERWRITTEN.format(name=name): difference(want, before),
                                LEFT_ALONE.format(name=name): rows_of(before)}
    known.update(wrong(name) if wrong else {})
    return known


def added(hint_value: Rows, before: object) -> Rows:
    """What the buffer would hold if a mistaken gradient `hint_value` had been added correctly."""
    return [[a + b for a, b in zip(ra, rb)] for ra, rb in zip(hint_value, rows_of(before))]


def returned(what: str, result: object, n: int) -> tuple[object, ...]:
    """The n values a function must return, checked to be a tuple of n before any value is read."""
    if not isinstance(result, tuple) or len(result) != n:
        kind = "None: is a `return` missing?" if result is None else f"{type(result).__name__}"
        raise Failed([f"{what} returned {kind}, not a tuple of {n} gradients: return them as `return dx, dw`"])
    return result


def check_all(cases: Sequence[Case]) -> None:
    """check_cases, for the several outputs of one call (a hint needs only explain its own)."""
    for case in cases:
        check_cases([case])


def copied(value: T) -> T:
    """A copy sharing no list with value: potatogpt's answer is computed on one, yours on another."""
    duplicate = fresh_copy(value)
    assert type(duplicate) is type(value)
    return duplicate
