"""potatogpt/fast/training.py: a training step's speed tricks against the plain arithmetic of
backward.py (the products, the gradient buffers), and the cycle collector paused only inside a step."""


import gc
import random
from array import array
from typing import TypeVar

import pytest

from helpers import random_rows
from potatogpt import backward
from potatogpt.fast import training as fast_training
from potatogpt.fast.storage import fast_weight
from potatogpt.tensor import ONE, Embed, Hidden, Seq, ShapeError, Weight, from_rows, weight_from_rows

CASES = ("tiny", "tiny-eps")
TOLERANCE = 1e-9

R = TypeVar("R", bound=int)
C = TypeVar("C", bound=int)




# --- The fast products against the plain ones ------------------------------------------------------
@pytest.mark.parametrize(("n_rows", "n_in", "n_out"), [(8, 16, 257), (8, 64, 16), (5, 3, 3), (1, 7, 2), (3, 1, 1)])
@pytest.mark.parametrize("exact_layout", [False, True])
def test_fast_product_backward_matches_the_plain_one(n_rows: int, n_in: int, n_out: int, exact_layout: bool,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_training, "SMALL_PRODUCT", 0)  # every shape through the kernel
    rng = random.Random(n_rows * 1000 + n_in * 10 + n_out)
    dy, x = random_rows(rng, Seq(n_rows), Hidden(n_out)), random_rows(rng, Seq(n_rows), Embed(n_in))
    columns = [[rng.gauss(0.0, 1.0) for _ in range(n_in)] for _ in range(n_out)]
    w: Weight[Embed, Hidden] = Weight(Embed(n_in), Hidden(n_out), columns=columns)
    if exact_layout:
        w = fast_weight(array("d", [v for c in columns for v in c]), Embed(n_in), Hidden(n_out), "exact")
    dx_plain, dw_plain = backward.product_backward(dy, x, w)
    with fast_training.fast_products():
        dx_fast, dw_fast = backward.product_backward(dy, x, w)
        dx_again, _ = backward.product_backward(dy, x, w)  # (W^T from the cache this time)
    assert dx_fast.shape == dx_plain.shape and dw_fast.shape == dw_plain.shape
    for got, want in ((dx_fast.rows, dx_plain.rows), (dx_again.rows, dx_plain.rows), (dw_fast.columns, dw_plain.columns)):
        for a, b in zip(got, want):
            assert a == pytest.approx(b, rel=1e-13, abs=1e-13)


@pytest.mark.parametrize(("n_rows", "n_in", "n_out"), [(8, 8, 4), (8, 4, 8), (3, 2, 5)])
def test_small_products_are_the_plain_sums_exactly(n_rows: int, n_in: int, n_out: int) -> None:
    """Below SMALL_PRODUCT multiply-adds, the fast path sums products as tensor.dot does: the
    same numbers as backward.py's, to the bit."""
    assert n_rows * n_in * n_out < fast_training.SMALL_PRODUCT
    rng = random.Random(n_rows + n_in + n_out)
    dy, x = random_rows(rng, Seq(n_rows), Hidden(n_out)), random_rows(rng, Seq(n_rows), Embed(n_in))
    w = Weight(Embed(n_in), Hidden(n_out), columns=[[rng.gauss(0.0, 1.0) for _ in range(n_in)] for _ in range(n_out)])
    dx_plain, dw_plain = backward.product_backward(dy, x, w)
    dx_fast, dw_fast = fast_training.product_backward(dy, x, w)
    assert dx_fast.rows == dx_plain.rows and dw_fast.columns == dw_plain.columns


def test_fast_accumulate_copies_into_zeros_and_adds_otherwise() -> None:
    rng = random.Random(9)
    buffer = backward.zero_weight(Embed(3), Hidden(4))
    delta = Weight(Embed(3), Hidden(4), columns=[[rng.gauss(0.0, 1.0) for _ in range(3)] for _ in range(4)])
    plain = backward.zero_weight(Embed(3), Hidden(4))
    buffer.columns[1][2] = plain.columns[1][2] = 0.25  # one column already used
    for _ in range(2):
        fast_training.accumulate(buffer, delta)
        backward.accumulate(plain, delta)
    assert buffer.columns == plain.columns
    bias, row = from_rows([[0.0, 0.0]], ONE, Hidden(2)), from_rows([[1.5, -2.0]], ONE, Hidden(2))
    fast_training.accumulate(bias, row)
    assert bias.rows == [[1.5, -2.0]] and bias.rows[0] is not row.rows[0]
    with pytest.raises(ShapeError):
        fast_training.accumulate(bias, from_rows([[1.0, 2.0, 3.0]], ONE, Hidden(3)))


def test_fast_products_handle_zero_gradients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_training, "SMALL_PRODUCT", 0)  # (the kernel, not the plain sums)
    dy = from_rows([[0.0, 0.0]], ONE, Hidden(2))
    x = from_rows([[1.0, 2.0, 3.0]], ONE, Embed(3))
    w = weight_from_rows([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], Embed(3), Hidden(2))
    with fast_training.fast_products():
        dx, dw = backward.product_backward(dy, x, w)
    assert dx.rows == [[0.0, 0.0, 0.0]] and dw.columns == [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]




def test_the_cycle_collector_is_paused_only_inside_the_block() -> None:
    assert gc.isenabled()
    with fast_training.cycle_collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with fast_training.cycle_collector_paused():
            pass
        assert not gc.isenabled()  # (left as the caller had it)
    finally:
        gc.enable()
    with pytest.raises(ZeroDivisionError), fast_training.cycle_collector_paused():
        1 / 0
    assert gc.isenabled()
