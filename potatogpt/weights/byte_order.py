"""Every file potatogpt writes holds little-endian numbers, whatever machine wrote it."""

from __future__ import annotations

import sys
from array import array
from typing import TypeVar

Numbers = TypeVar("Numbers", "array[int]", "array[float]")


def little_endian(values: array[int] | array[float]) -> bytes:
    """The values' bytes in little-endian order (a copy is swapped on a big-endian machine)."""
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def from_little_endian(values: Numbers, data: bytes) -> Numbers:
    """`values` extended by the little-endian numbers in `data`, in this machine's order."""
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()
    return values
