"""Exact weights (float64 tuples, ~32 bytes/param): one `math.dist` per output (see kernels.py)."""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from itertools import repeat

from ..tensor import dot  # for rows that can't use the identity (zeros, inf or nan)
from .shared import check_flat, sq_norms

_dist = math.dist
_fsum = math.fsum
_INF = math.inf

# --- Exact weights: the math.dist identity ------------------------------------------------------
class ExactWeight:
    """A weight matrix prepared for the one-`math.dist`-per-output identity.

    `columns[j]` is output j's weights over the inputs, as a tuple: `math.dist` converts any
    non-tuple argument to a tuple on every call (allocating n_in references), which made it 2-3x
    slower with lists.  `sq_norms[j]` is |columns[j]|^2, correctly rounded (math.fsum).
    `scale_exp` is the binary exponent of the typical column norm; inputs are scaled to it.
    """

    __slots__ = ("columns", "sq_norms", "n_in", "n_out", "scale_exp", "finite")

    def __init__(self, columns: list[tuple[float, ...]], n_in: int) -> None:
        self.columns = columns
        self.n_in = n_in
        self.n_out = len(columns)
        self.sq_norms = sq_norms(columns, n_in)
        # The identity subtracts |w|^2 terms, so it needs them finite; a weight with an inf/nan
        # (or a column norm overflowing float) falls back to the plain product.
        self.finite = all(map(math.isfinite, self.sq_norms))
        mean_sq = _fsum(self.sq_norms) / self.n_out if self.columns and self.finite else 0.0
        self.scale_exp = math.frexp(math.sqrt(mean_sq))[1] if mean_sq > 0.0 else 0


def prepare_exact(columns: Sequence[Sequence[float]]) -> ExactWeight:
    """Prepare columns (output j's weights over the inputs) for `matmul_weight`.

    Tuple columns are kept as they are (no copy).  Any other sequence is copied into a tuple once,
    because `math.dist` would otherwise copy it on every call: drop your lists afterwards, or
    build the tuples directly with `prepare_exact_flat` so they never exist twice.
    """
    tuples = [c if type(c) is tuple else tuple(c) for c in columns]
    n_in = len(tuples[0]) if tuples else 0
    if any(len(c) != n_in for c in tuples):
        raise ValueError("prepare_exact: columns have different lengths")
    return ExactWeight(tuples, n_in)


def prepare_exact_flat(flat: array[float], n_in: int, n_out: int) -> ExactWeight:
    """Like `prepare_exact`, from n_out columns of n_in floats back to back (the loader's layout).

    Builds each column's tuple straight from the array: no nested lists ever exist, so peak memory
    is the flat array plus the tuples.
    """
    check_flat(flat, n_in, n_out)
    view = memoryview(flat)
    return ExactWeight([tuple(view[j * n_in : (j + 1) * n_in]) for j in range(n_out)], n_in)



def scaled_row(x: Sequence[float], scale_exp: int) -> tuple[tuple[float, ...], float, float] | None:
    """x scaled by a power of two so |x| ~ 2**scale_exp, its squared norm, and the factor that
    undoes both the scaling and the identity's /2.  None when x can't use the identity (all
    zeros, inf/nan, or a norm that overflows): the caller then uses the plain product.

    The scaling matters: the identity's rounding error is a few ulps of |w|^2 + |x|^2, and
    post-LayerNorm activations have |x| ~ 30 against |w| ~ 0.5-5.  Multiplying by 2**e is exact.
    """
    norm = math.hypot(*x)  # hypot rescales internally: no overflow or underflow for any finite x
    if not 0.0 < norm < _INF:
        return None
    shift = scale_exp - math.frexp(norm)[1]
    factor = math.ldexp(1.0, shift)
    xs = tuple([v * factor for v in x])
    # |x|^2 computed the way |w - x|^2 is (math.dist against zeros), so a zero column, where
    # |w - x| = |x|, cancels to exactly 0.0.
    length = _dist(xs, (0.0,) * len(xs))
    return xs, length * length, math.ldexp(0.5, -shift)


def exact_matmul(rows: Sequence[Sequence[float]], weight: ExactWeight) -> list[list[float]]:
    out: list[list[float]] = []
    columns, sq_norms = weight.columns, weight.sq_norms
    for x in rows:
        if len(x) != weight.n_in:
            raise ValueError(f"matmul: row of length {len(x)} against weights with {weight.n_in} inputs")
        scaled = scaled_row(x, weight.scale_exp) if weight.finite else None
        if scaled is None:
            if weight.finite and not any(x):
                out.append([0.0] * weight.n_out)  # exact, and avoids 0/0 scaling
            else:
                out.append(list(map(dot, repeat(x, weight.n_out), columns)))
            continue
        xs, xx, half = scaled
        # map(dist, ...) runs the n_out calls from C; the comprehension then does 4 float ops per
        # output, ~1% of the time of the dist call that produced it.
        dists = map(_dist, columns, repeat(xs))
        out.append([(n + xx - d * d) * half for n, d in zip(sq_norms, dists)])
    return out



def exact_column(weight: ExactWeight, j: int) -> list[float]:
    return list(weight.columns[j])


def exact_columns(weight: ExactWeight) -> list[list[float]]:
    return [list(c) for c in weight.columns]
