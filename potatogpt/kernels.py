"""The hot loops: every multiply-add of a GPT-2 forward pass runs through this module.

Everything else in potatogpt is written for reading; this file is written for speed, and says why
each loop has the shape it has.  `matmul(rows, columns)` takes the left operand row by row and
the right operand column by column, so each output value is one dot product of two flat lists of
floats and no loop ever transposes or indexes element by element.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from operator import mul

if sys.version_info >= (3, 12):
    from math import sumprod as dot  # one C loop, no intermediate float objects
else:

    def dot(a: Sequence[float], b: Sequence[float]) -> float:
        """Dot product; map(mul) keeps the loop in C, sum adds the products as they come."""
        total: float = sum(map(mul, a, b))
        return total


def matmul(rows: Sequence[Sequence[float]], columns: Sequence[Sequence[float]]) -> list[list[float]]:
    """out[i][j] = dot(rows[i], columns[j]): a matrix product with the right operand transposed."""
    return [[dot(row, column) for column in columns] for row in rows]
