"""Compact exact weights (float32 storage, ~4.3 bytes/param), unboxed on the fly (see kernels.py)."""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Sequence
from itertools import repeat

from ..tensor import dot  # for rows that can't use the identity (zeros, inf or nan)
from .exact import scaled_row
from .shared import check_flat, sq_norms

_dist = math.dist
_fsum = math.fsum

# --- Compact exact weights: float32 storage, unboxed on the fly ----------------------------------
class CompactWeight:
    """Exact weights kept in one flat `array` (typecode 'f': 4 bytes/param, or 'd').

    `views[j]` is a zero-copy memoryview of column j (~200 bytes each, i.e. <0.3 byte/param for
    768-long columns).  `math.dist(view, x)` unboxes the view into a temporary tuple of floats
    inside C, so one token costs the identity plus one float allocation per weight.
    """

    __slots__ = ("flat", "views", "sq_norms", "n_in", "n_out", "scale_exp", "finite")

    def __init__(self, flat: array[float], n_in: int, n_out: int) -> None:
        check_flat(flat, n_in, n_out)
        self.flat = flat
        self.n_in = n_in
        self.n_out = n_out
        view = memoryview(flat)
        self.views = [view[j * n_in : (j + 1) * n_in] for j in range(n_out)]
        self.sq_norms = sq_norms(self.views, n_in)
        self.finite = all(map(math.isfinite, self.sq_norms))
        mean_sq = _fsum(self.sq_norms) / n_out if n_out and self.finite else 0.0
        self.scale_exp = math.frexp(math.sqrt(mean_sq))[1] if mean_sq > 0.0 else 0


def prepare_compact(flat: array[float], n_in: int, n_out: int) -> CompactWeight:
    """Low-memory exact weights: keeps `flat` (n_out columns of n_in values back to back) as is."""
    return CompactWeight(flat, n_in, n_out)


def compact_matmul(rows: Sequence[Sequence[float]], weight: CompactWeight) -> list[list[float]]:
    scaled = []
    for x in rows:
        if len(x) != weight.n_in:
            raise ValueError(f"matmul: row of length {len(x)} against weights with {weight.n_in} inputs")
        scaled.append(scaled_row(x, weight.scale_exp) if weight.finite else None)
    if len(rows) == 1 and scaled[0] is not None:
        # One token: each column is used once, so unboxing it (one new float per weight, the
        # dominant cost here) can't be shared.  Let C do it: math.sumprod reads the view directly
        # on 3.12+; before that, math.dist converts the view to a temporary tuple.
        if sys.version_info >= (3, 12):
            return [list(map(math.sumprod, weight.views, repeat(rows[0])))]
        else:
            xs, xx, half = scaled[0]
            dists = map(_dist, weight.views, repeat(xs))
            return [[(n + xx - d * d) * half for n, d in zip(weight.sq_norms, dists)]]
    # A block of rows: unbox each column once into a tuple and reuse it for every row.
    by_column: list[list[float]] = []
    for view, n in zip(weight.views, weight.sq_norms):
        column = tuple(view)
        by_column.append(
            [
                (n + s[1] - _dist(column, s[0]) ** 2) * s[2]
                if s is not None
                else (0.0 if weight.finite and not any(x) else dot(x, column))
                for x, s in zip(rows, scaled)
            ]
        )
    return [list(r) for r in zip(*by_column)] if by_column else [[] for _ in rows]



def compact_column(weight: CompactWeight, j: int) -> list[float]:
    return weight.flat[j * weight.n_in : (j + 1) * weight.n_in].tolist()


def compact_columns(weight: CompactWeight) -> list[list[float]]:
    n = weight.n_in
    return [weight.flat[j * n : (j + 1) * n].tolist() for j in range(weight.n_out)]
