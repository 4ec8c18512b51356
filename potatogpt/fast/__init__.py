"""Speed: faster ways to hold a weight matrix and to multiply by it.

Everything here is an optimisation of arithmetic that potatogpt/tensor.py does plainly (`matmul`,
one `dot` per output): it changes how fast the product runs and how much memory the weights
take, not what is computed.  tests/test_kernels.py checks each layout against the plain product.
The only door into this package from the reading path is `Weight.fast` (see tensor.py).

    kernels.py        the layouts: exact float tuples, float32 arrays, packed fixed-point integers
    packed_cache.py   --packed's quantized weights kept on disk, so quantizing happens once
    parallel.py       --jobs N: each matrix split by output columns across worker processes
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Literal, TypeVar

from ..tensor import Weight
from . import kernels

# How a weights file's numbers are held in memory (kernels.py explains the trade-offs):
#   "exact"   float64 tuples, the fastest exact kernel, ~32 bytes per parameter
#   "compact" the file's float32 numbers as they are, exact but slower, ~4 bytes per parameter
#   "packed"  fixed-point big integers, the fastest, float32-like accuracy, ~8 bytes per parameter
Layout = Literal["exact", "compact", "packed"]
LAYOUTS: tuple[Layout, ...] = ("exact", "compact", "packed")

I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)


def prepare(values: array[float], n_in: int, n_out: int, layout: Layout) -> kernels.Weight:
    """Hand a flat [out, in] run of weights (a weights file's order) to the kernel `layout` names."""
    if layout == "exact":
        return kernels.prepare_exact_flat(values, n_in, n_out)
    if layout == "compact":
        return kernels.prepare_compact(values, n_in, n_out)
    return kernels.prepare_packed(values, n_in, n_out)


class KernelLayout:
    """A tensor.FastLayout for one of kernels.py's weights, held in this process."""

    __slots__ = ("weight",)

    def __init__(self, weight: kernels.Weight) -> None:
        self.weight = weight

    def matmul(self, rows: Sequence[Sequence[float]]) -> list[list[float]]:
        return kernels.matmul_weight(rows, self.weight)

    def column(self, j: int) -> list[float]:
        return kernels.weight_column(self.weight, j)


def fast_weight(values: array[float], n_in: I, n_out: O, layout: Layout) -> Weight[I, O]:
    """A Weight whose numbers (a flat [out, in] run) are held in a kernel's layout."""
    return Weight(n_in, n_out, fast=KernelLayout(prepare(values, n_in, n_out, layout)))
