"""The hot loops: every multiply-add of a GPT-2 forward pass runs through this module.

Everything else in potatogpt is written for reading; this file is written for speed, and says why
each loop has the shape it has.  The ground rule is CPython's cost model: a bytecode costs tens of
nanoseconds, a C loop inside one builtin call costs about one nanosecond per element.  So no loop
here touches weights one at a time in Python; every inner loop is a single call into C (`math.dist`,
`math.sumprod`, `sum(map(...))`, or one big-integer multiply), and the Python-level loops run once
per *output value* or once per *input channel*, never once per multiply-add.

Three ways to hold a weight matrix (the right operand of `x @ W`), all built once at load time:

* `ExactWeight` (float64, ~32 bytes/param): each output's weights as a tuple of floats, plus the
  squared norm of each.  A dot product is then ONE `math.dist` call, through the identity
      w . x = (|w|^2 + |x|^2 - |w - x|^2) / 2.
  `math.dist` is the fastest C loop over two float sequences the standard library has (it unboxes
  both, subtracts and sums squares with an error-compensated accumulator), faster on every Python
  3.10-3.13 than `sum(map(mul, w, x))` (which boxes every product and, on 3.12+, runs a compensated
  float sum) and than 3.12's `math.sumprod` (which does triple-length arithmetic per term).
  The identity loses digits to cancellation when |w|^2 + |x|^2 is much larger than w . x: the
  error is a few ulps of |w|^2 + |x|^2.  We keep that small by scaling x by a power of two
  (exact, no rounding) so that |x| matches the typical |w|; then the error is ~1e-16 * |w||x|.
* `CompactWeight` (float32 storage, ~4.3 bytes/param): each column lives in a flat `array('f')`
  and is unboxed to floats on the fly.  Exact (the float32 values are the checkpoint's own
  values) but ~3x slower than `ExactWeight` for one token (~23 ns/MAC: creating a float object
  per weight is the cost, 3.12+ lets math.sumprod read the array directly); a prompt block
  unboxes each column once for all its rows (~8-10 ns/MAC at 16 rows).
* `PackedWeight` (~7.7 bytes/param, lossy but ~5x more accurate than a float32 loop): weights
  quantized to integers and packed,
  many output channels side by side, into one Python `int` per input channel.  One big-integer
  multiply-add `acc += q(x_k) * packed_row_k` then does a whole row of multiply-adds in CPython's
  digit loop, about 2-3 CPU instructions per 30-bit digit.  See `PackedWeight` for the field
  layout and why it can never overflow.

`matmul_weight(rows, weight)` is the product with a prepared weight: the same numbers as
tensor.py's plain `matmul(rows, columns)`, which also stays the product for everything that is
not a weight (attention's queries against the KV cache).

    shared.py    what the layouts share      exact.py   ExactWeight
    compact.py   CompactWeight               packed.py  PackedWeight
"""

from __future__ import annotations

from collections.abc import Sequence

from .compact import CompactWeight, compact_column, compact_columns, compact_matmul
from .exact import ExactWeight, exact_column, exact_columns, exact_matmul
from .packed import PackedWeight, packed_column, packed_columns, packed_matmul

# A weight matrix held in one of the three layouts (tensor.py's `Weight` is the math's W; this is
# how its numbers sit in memory).
KernelWeight = ExactWeight | CompactWeight | PackedWeight


def matmul_weight(rows: Sequence[Sequence[float]], weight: KernelWeight) -> list[list[float]]:
    """out[i][j] = sum_k rows[i][k] * W[k][j] for a prepared weight (a T x n_in block of rows)."""
    if isinstance(weight, ExactWeight):
        return exact_matmul(rows, weight)
    if isinstance(weight, CompactWeight):
        return compact_matmul(rows, weight)
    return packed_matmul(rows, weight)


def weight_column(weight: KernelWeight, j: int) -> list[float]:
    """Output j's weights over the inputs as floats (dequantized for packed weights).

    For the tied GPT-2 embedding: the LM head's column j is token j's embedding row.
    """
    if not 0 <= j < weight.n_out:
        raise IndexError(f"weight_column: {j} out of range for {weight.n_out} outputs")
    if isinstance(weight, ExactWeight):
        return exact_column(weight, j)
    if isinstance(weight, CompactWeight):
        return compact_column(weight, j)
    return packed_column(weight, j)


def weight_columns(weight: KernelWeight) -> list[list[float]]:
    """All columns as lists of floats (dequantized for packed weights): for rare reads."""
    if isinstance(weight, ExactWeight):
        return exact_columns(weight)
    if isinstance(weight, CompactWeight):
        return compact_columns(weight)
    return packed_columns(weight)
