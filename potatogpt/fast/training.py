"""Speed for training: every trick that makes a training step faster, in one place.

Everything here is an optimisation of what backward.py and train.py do plainly; it changes how
fast a step runs, not what it computes.  tests/test_backward.py checks the products and the
accumulation here against the plain ones, and whole gradients with them against gradients without.

    product_backward, fast_products()   the backward pass's products on the fast exact kernel
                                        (small ones as plain sums of products, without the rest)
    accumulate                          a gradient's first contribution copied, not added to zeros
    cycle_collector_paused()            no cyclic garbage collection in the middle of a step
    storage_of, columns_of, rewrite_exact   reading and updating a weight whatever its storage

The largest part of a training step is the two products of `backward.product_backward`, for
y = x @ W:

    dx = dy @ W^T        T x n_out times n_out x n_in
    dW = x^T @ dy        n_in x T times T x n_out: n_in * n_out dot products of length T

The plain version runs one `dot` (a Python-level call) per entry, and for dW each is only T
multiply-adds long (a short training line has T = 8), so the calls cost more than the arithmetic.
Here both products run on fast/exact.py's layout (`ExactWeight`: a whole row of outputs
per `map(math.dist, ...)`, run from C, through the identity w . x = (|w|^2 + |x|^2 - |w - x|^2) / 2
with the inputs scaled by a power of two; float64 to ~1e-16 of |w| |x|).  The operands are
transposed by `zip(*rows)`, which builds the tuples the kernel wants in C (so they go into
`ExactWeight` as they are, without prepare_exact's copy and checks), and dW is computed in the
orientation with fewer rows, since each row of the product pays a fixed cost (scaling it).

`fast_products()` puts this module's `product_backward` and `accumulate` in backward.py's place
while a gradient is computed, the way instruments.record() swaps model.py's stages: backward.py calls its stages
through its module globals, so the formulas stay as they are written there.  W^T of each weight is
prepared once per `fast_products()` block (the weights do not change inside one, and every row of
a batch multiplies by the same W^T).  Like record(), this is per process and not thread-safe.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from operator import add
from typing import TypeVar, overload

from .. import backward
from ..tensor import ShapeError, Tensor, Weight, dot
from .compact import CompactWeight
from .exact import ExactWeight
from .kernels import matmul_weight
from .storage import KernelMatrix

I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)
R = TypeVar("R", bound=int)
C = TypeVar("C", bound=int)

# id(W) -> (W, W^T prepared), for the block of fast_products() in progress.  (W is kept so its id
# cannot be reused by another object while the entry lives.)
_transposed: dict[int, tuple[object, ExactWeight]] = {}


def storage_of(weight: Weight[I, O]) -> str:
    """How the weight's numbers are held, by api.Storage's names ("jobs" for a WorkerPool's shards)."""
    if weight.fast is None:
        return "reference"
    if isinstance(weight.fast, KernelMatrix):
        held = weight.fast.weight
        return "exact" if isinstance(held, ExactWeight) else "compact" if isinstance(held, CompactWeight) else "packed"
    return "jobs"


def rewrite_exact(weight: Weight[I, O], flat: Sequence[float]) -> None:
    """New numbers (columns back to back) for a weight of exact storage.  The layout keeps each
    column's squared norm beside it, so it is built again from the new numbers: tuples are never
    patched, since a stale norm would silently change every product."""
    n = weight.n_in
    weight.fast = KernelMatrix(ExactWeight([tuple(flat[j * n : (j + 1) * n]) for j in range(weight.n_out)], n))


def columns_of(weight: Weight[I, O]) -> Sequence[Sequence[float]]:
    """W's columns without copying them when it already holds them (plain, or exact tuples)."""
    if isinstance(weight.fast, KernelMatrix) and isinstance(weight.fast.weight, ExactWeight):
        return weight.fast.weight.columns
    return weight.columns


def transposed(weight: Weight[I, O]) -> ExactWeight:
    """W^T in the exact layout: its columns are W's rows."""
    cached = _transposed.get(id(weight))
    if cached is not None and cached[0] is weight:
        return cached[1]
    prepared = ExactWeight(list(zip(*columns_of(weight))), weight.n_out)
    _transposed[id(weight)] = (weight, prepared)
    return prepared


# Below this many multiply-adds (per product), preparing the kernel's operands costs more than it
# saves: attention's products per head (T x T x head_dim) are done as plain sums of products.
SMALL_PRODUCT = 1024


def product_backward(dy: Tensor[R, O], x: Tensor[R, I], w: Weight[I, O]) -> tuple[Tensor[R, I], Weight[I, O]]:
    """backward.product_backward, on the exact kernel: dx = dy @ W^T and dW = x^T @ dy."""
    n_rows, (n_in, n_out) = x.n_rows, w.shape
    if n_rows * n_in * n_out < SMALL_PRODUCT:
        return small_product_backward(dy, x, w)
    dx = Tensor(n_rows, n_in, matmul_weight(dy.rows, transposed(w)))
    x_columns = list(zip(*x.rows))  # x^T's rows, x's columns: n_in tuples of T
    dy_columns = list(zip(*dy.rows))  # n_out tuples of T
    if n_rows == 0:
        columns = [[0.0] * n_in for _ in range(n_out)]
    elif n_in <= n_out:
        # Row i of dW = (column i of x) . (each column of dy): n_in rows, then turned into columns.
        by_row = matmul_weight(x_columns, ExactWeight(dy_columns, n_rows))
        columns = [list(c) for c in zip(*by_row)]
    else:
        # Column j of dW = (column j of dy) . (each column of x): the columns directly.
        columns = matmul_weight(dy_columns, ExactWeight(x_columns, n_rows))
    return dx, Weight(n_in, n_out, columns=columns)


def small_product_backward(dy: Tensor[R, O], x: Tensor[R, I], w: Weight[I, O]) -> tuple[Tensor[R, I], Weight[I, O]]:
    """The same two products for small operands, by tensor.dot as backward.py's are (so the same
    numbers), without the Tensors made on the way there (transposes, W^T as a Weight)."""
    w_rows = list(zip(*columns_of(w)))  # row i of W: what input i feeds to every output
    dx = [[dot(d, w_row) for w_row in w_rows] for d in dy.rows]
    x_columns = list(zip(*x.rows))
    dw = [[dot(x_column, dy_column) for x_column in x_columns] for dy_column in zip(*dy.rows)]
    return Tensor(x.n_rows, w.n_in, dx), Weight(w.n_in, w.n_out, columns=dw)


@overload
def accumulate(into: Tensor[R, C], delta: Tensor[R, C]) -> None: ...
@overload
def accumulate(into: Weight[I, O], delta: Weight[I, O]) -> None: ...
def accumulate(into: Tensor[R, C] | Weight[I, O], delta: Tensor[R, C] | Weight[I, O]) -> None:
    """backward.accumulate, into += delta, where most buffers get one contribution per step: a
    row or column still all zeros takes delta's numbers by a copy (0.0 + d is d), in C, instead of
    one addition per number.  (any() stops at the first nonzero number of a used buffer.)"""
    if into.shape != delta.shape:
        raise ShapeError(f"accumulate: a gradient of shape {delta.shape} into a buffer of shape {into.shape}")
    targets = into.rows if isinstance(into, Tensor) else into.columns
    sources = delta.rows if isinstance(delta, Tensor) else delta.columns
    for target, source in zip(targets, sources):
        if any(target):
            target[:] = map(add, target, source)
        else:
            target[:] = source


@contextmanager
def fast_products() -> Iterator[None]:
    """Inside the block, backward.py's products run on the exact kernel and its gradient buffers
    fill by `accumulate` above (see the docstring)."""
    plain_product, plain_accumulate = backward.product_backward, backward.accumulate
    backward.product_backward, backward.accumulate = product_backward, accumulate
    try:
        yield
    finally:
        backward.product_backward, backward.accumulate = plain_product, plain_accumulate
        _transposed.clear()


@contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Python's cycle collector stays off inside the block, and comes back on (if it was on) after.

    A training step allocates thousands of lists (activations, gradients, the recorded calls) and
    frees them all by reference counting: they make no reference cycles.  The collector is still
    started every 700 allocations, and walks every container made since: measured at ~5% of a
    small model's step.  (fast/gc.py's no_cyclic_gc does the same while weights load, and also freezes
    them; a step's objects are short-lived, so nothing is frozen here.)
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
