"""The weight storages of fast/: a flat run of floats in, a tensor.Weight with fast products out."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Literal, TypeVar

from ..tensor import Weight
from .compact import prepare_compact
from .exact import prepare_exact_flat
from .kernels import KernelWeight, matmul_weight, weight_column
from .packed import prepare_packed

# How a weights file's numbers are held in memory, the storages fast/ provides (api.Storage adds
# "reference", plain lists with no kernel at all; kernels.py explains the trade-offs):
#   "exact"   float64 tuples, the fastest exact kernel, ~32 bytes per parameter
#   "compact" the file's float32 numbers as they are, exact but slower, ~4 bytes per parameter
#   "packed"  fixed-point big integers, the fastest, float32-like accuracy, ~8 bytes per parameter
FastStorage = Literal["exact", "compact", "packed"]
FAST_STORAGES: tuple[FastStorage, ...] = ("exact", "compact", "packed")

I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)


def prepare(values: array[float], n_in: int, n_out: int, storage: FastStorage) -> KernelWeight:
    """Hand a flat [out, in] run of weights (a weights file's order) to the kernel `storage` names."""
    if storage == "exact":
        return prepare_exact_flat(values, n_in, n_out)
    if storage == "compact":
        return prepare_compact(values, n_in, n_out)
    return prepare_packed(values, n_in, n_out)


class KernelMatrix:
    """A tensor.FastMatrix for one of kernels.py's weights, held in this process."""

    __slots__ = ("weight",)

    def __init__(self, weight: KernelWeight) -> None:
        self.weight = weight

    def matmul(self, rows: Sequence[Sequence[float]]) -> list[list[float]]:
        return matmul_weight(rows, self.weight)

    def column(self, j: int) -> list[float]:
        return weight_column(self.weight, j)


def fast_weight(values: array[float], n_in: I, n_out: O, storage: FastStorage) -> Weight[I, O]:
    """A Weight whose numbers (a flat [out, in] run) are held in a kernel's layout."""
    return Weight(n_in, n_out, fast=KernelMatrix(prepare(values, n_in, n_out, storage)))
