"""What the three weight layouts share: the identity's squared norms, and checking a flat run."""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from itertools import repeat

_dist = math.dist

def sq_norms(columns: Sequence[Sequence[float]], n_in: int) -> list[float]:
    """|c|^2 per column.  math.dist(c, 0) is |c| to within about an ulp and 4x quicker than
    math.fsum of the squares; squaring it costs one more rounding, which is below the identity's
    own error (the tests compare against exact products)."""
    zeros = (0.0,) * n_in
    return [d * d for d in map(_dist, columns, repeat(zeros))]



def check_flat(flat: array[float], n_in: int, n_out: int) -> None:
    if n_in < 1 or n_out < 1 or len(flat) != n_in * n_out:
        raise ValueError(f"expected {n_out} columns of {n_in} values back to back, got {len(flat)} values")
