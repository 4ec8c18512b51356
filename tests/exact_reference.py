"""The exact dot product, the reference the kernels are measured against (tests and bench).

Each product is split into two floats with Dekker's algorithm and all the pieces are summed by
math.fsum, which rounds the true sum once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

_SPLIT = 134217729.0  # 2**27 + 1: Veltkamp's splitting constant for float64


def two_prod(a: float, b: float) -> tuple[float, float]:
    """p + e == a * b exactly (Dekker), for values far from overflow."""
    p = a * b
    t = _SPLIT * a
    ah = t - (t - a)
    al = a - ah
    t = _SPLIT * b
    bh = t - (t - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def exact_dot(a: Sequence[float], b: Sequence[float]) -> float:
    """The correctly rounded dot product (for magnitudes where a*b doesn't over/underflow)."""
    parts: list[float] = []
    for u, v in zip(a, b):
        parts.extend(two_prod(u, v))
    return math.fsum(parts)
