"""Every Tensor operation against values worked out by hand, and its run-time shape checks."""

from __future__ import annotations

import math
from array import array

import pytest

from potatogpt.tensor import (
    ONE,
    Ctx,
    Embed,
    HeadDim,
    Hidden,
    Seq,
    ShapeError,
    Storage,
    Vocab,
    concat_columns,
    from_columns,
    from_rows,
    take_rows,
    weight_from_flat,
    zeros,
)

A = from_rows([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], Seq(3), Embed(2))  # 3 x 2
B = from_rows([[1.0, 0.0, 2.0], [-1.0, 3.0, 1.0]], Embed(2), Hidden(3))  # 2 x 3


def test_constructors_and_shape() -> None:
    assert A.shape == (3, 2)
    assert A.rows == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert A.columns == [[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]]
    z = zeros(Seq(2), Embed(3))
    assert z.rows == [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    c = from_columns([[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]], Seq(3), Embed(2))
    assert c.rows == A.rows
    assert zeros(Ctx(0), HeadDim(4)).shape == (0, 4)


def test_constructors_check_sizes() -> None:
    with pytest.raises(ShapeError, match="from_rows"):
        from_rows([[1.0, 2.0], [3.0]], Seq(2), Embed(2))
    with pytest.raises(ShapeError, match="from_rows"):
        from_rows([[1.0, 2.0]], Seq(2), Embed(2))
    with pytest.raises(ShapeError, match="from_columns"):
        from_columns([[1.0, 2.0]], Seq(2), Embed(2))


def test_matmul() -> None:
    # [1 2]   [ 1 0 2]   [-1  6  4]
    # [3 4] @ [-1 3 1] = [-1 12 10]
    # [5 6]              [-1 18 16]
    product = A @ B
    assert product.shape == (3, 3)
    assert product.rows == [[-1.0, 6.0, 4.0], [-1.0, 12.0, 10.0], [-1.0, 18.0, 16.0]]


def test_matmul_with_column_stored_weight() -> None:
    weight = from_columns([[1.0, -1.0], [0.0, 3.0], [2.0, 1.0]], Embed(2), Hidden(3))  # = B
    assert (A @ weight).rows == [[-1.0, 6.0, 4.0], [-1.0, 12.0, 10.0], [-1.0, 18.0, 16.0]]


def test_matmul_shape_error_names_both_shapes() -> None:
    with pytest.raises(ShapeError, match=r"matmul: \(3, 2\) @ \(3, 2\)"):
        A @ A  # type: ignore[operator]  # deliberately wrong, to see the run-time check


def test_transpose() -> None:
    t = A.T
    assert t.shape == (2, 3)
    assert t.rows == [[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]]
    assert t.T.rows == A.rows
    assert (A @ A.T).rows == [[5.0, 11.0, 17.0], [11.0, 25.0, 39.0], [17.0, 39.0, 61.0]]


def test_add_same_shape_broadcast_and_scalar() -> None:
    assert (A + A).rows == [[2.0, 4.0], [6.0, 8.0], [10.0, 12.0]]
    bias = from_rows([[10.0, 20.0]], ONE, Embed(2))
    assert (A + bias).rows == [[11.0, 22.0], [13.0, 24.0], [15.0, 26.0]]
    assert (A + 0.5).rows == [[1.5, 2.5], [3.5, 4.5], [5.5, 6.5]]


def test_add_shape_errors() -> None:
    wrong_width = from_rows([[1.0, 2.0, 3.0]], ONE, Embed(3))
    with pytest.raises(ShapeError, match=r"add: .*\(1, 3\).*\(3, 2\)"):
        A + wrong_width
    two_rows = from_rows([[1.0, 2.0], [3.0, 4.0]], Seq(2), Embed(2))
    with pytest.raises(ShapeError, match="add"):
        A + two_rows


def test_scale_and_map() -> None:
    assert (A * 2.0).rows == [[2.0, 4.0], [6.0, 8.0], [10.0, 12.0]]
    assert (0.5 * A).rows == [[0.5, 1.0], [1.5, 2.0], [2.5, 3.0]]
    assert A.map(lambda v: v * v).rows == [[1.0, 4.0], [9.0, 16.0], [25.0, 36.0]]


def test_softmax_rows() -> None:
    x = from_rows([[0.0, 0.0], [math.log(3.0), 0.0]], Seq(2), Ctx(2))
    probs = x.softmax_rows().rows
    assert probs[0] == [0.5, 0.5]
    assert probs[1] == pytest.approx([0.75, 0.25], abs=1e-15)


def test_softmax_is_stable_for_large_scores() -> None:
    x = from_rows([[1000.0, 1000.0, 1000.0 + math.log(0.5)]], ONE, Ctx(3))
    assert x.softmax_rows().rows[0] == pytest.approx([0.4, 0.4, 0.2], abs=1e-12)


def test_softmax_causal_mask() -> None:
    # Two new tokens at positions 1 and 2 looking back over 3 positions: row 0 sees columns
    # 0..1, row 1 sees columns 0..2.  Masked columns get exactly 0.
    x = from_rows([[0.0, 0.0, 50.0], [0.0, 0.0, 0.0]], Seq(2), Ctx(3))
    probs = x.softmax_rows(causal_offset=1).rows
    assert probs[0] == [0.5, 0.5, 0.0]
    assert probs[1] == pytest.approx([1 / 3, 1 / 3, 1 / 3], abs=1e-15)
    with pytest.raises(ShapeError, match="softmax_rows"):
        x.softmax_rows(causal_offset=-1)


def test_layer_norm() -> None:
    # Row [1, 3]: mean 2, variance 1 -> normalised [-1, 1]; gain [2, 3], bias [0.5, -0.5].
    x = from_rows([[1.0, 3.0], [4.0, 4.0]], Seq(2), Embed(2))
    gain = from_rows([[2.0, 3.0]], ONE, Embed(2))
    bias = from_rows([[0.5, -0.5]], ONE, Embed(2))
    out = take_rows(x, [0], ONE).layer_norm(gain, bias, eps=0.0).rows
    assert out[0] == [-1.5, 2.5]
    # A constant row has variance 0: eps keeps the division finite and the result is the bias.
    assert x.layer_norm(gain, bias, eps=1e-5).rows[1] == [0.5, -0.5]
    assert x.layer_norm(gain, bias, eps=1e-5).rows[0] == pytest.approx(
        [-2 / math.sqrt(1 + 1e-5) + 0.5, 3 / math.sqrt(1 + 1e-5) - 0.5]
    )


def test_layer_norm_shape_error() -> None:
    x = from_rows([[1.0, 3.0]], Seq(1), Embed(2))
    gain3 = from_rows([[1.0, 1.0, 1.0]], ONE, Embed(3))
    with pytest.raises(ShapeError, match="layer_norm: gain"):
        x.layer_norm(gain3, gain3, 1e-5)


def test_take_rows() -> None:
    table = from_rows([[0.0, 0.5], [1.0, 1.5], [2.0, 2.5]], Vocab(3), Embed(2))
    picked = take_rows(table, [2, 0, 2], Seq(3))
    assert picked.rows == [[2.0, 2.5], [0.0, 0.5], [2.0, 2.5]]
    picked.rows[0][0] = 99.0  # the picked rows are copies: the table is unchanged
    assert table.rows[2] == [2.0, 2.5]
    with pytest.raises(ShapeError, match="out of range"):
        take_rows(table, [3], ONE)
    with pytest.raises(ShapeError, match="2 indices for 1 rows"):
        take_rows(table, [0, 1], ONE)


def test_row() -> None:
    assert A.row(-1) == [5.0, 6.0]
    with pytest.raises(ShapeError, match="row"):
        A.row(3)


def test_append_rows_keeps_rows_and_columns_in_step() -> None:
    cache = zeros(Ctx(0), HeadDim(2))
    first = from_rows([[1.0, 2.0]], Seq(1), HeadDim(2))
    cache.append_rows(first)
    assert cache.shape == (1, 2)
    assert cache.columns == [[1.0], [2.0]]  # columns now cached; the next append extends them
    view = cache.T
    cache.append_rows(from_rows([[3.0, 4.0], [5.0, 6.0]], Seq(2), HeadDim(2)))
    assert cache.shape == (3, 2)
    assert cache.rows == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert cache.columns == [[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]]
    assert view.shape == (2, 1)  # a transpose taken earlier is a snapshot
    with pytest.raises(ShapeError, match="append_rows"):
        cache.append_rows(from_rows([[1.0]], Seq(1), HeadDim(1)))


def test_append_rows_to_column_stored_tensor() -> None:
    cache = from_columns([[1.0], [2.0]], Ctx(1), HeadDim(2))
    cache.append_rows(from_rows([[3.0, 4.0]], Seq(1), HeadDim(2)))
    assert cache.rows == [[1.0, 2.0], [3.0, 4.0]]


def test_split_and_concat_columns() -> None:
    x = from_rows([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], Seq(1), Embed(6))
    heads = x.split_columns(3, HeadDim(2))
    assert [h.rows for h in heads] == [[[1.0, 2.0]], [[3.0, 4.0]], [[5.0, 6.0]]]
    assert concat_columns(heads, Embed(6)).rows == x.rows
    with pytest.raises(ShapeError, match="split_columns"):
        x.split_columns(4, HeadDim(2))
    with pytest.raises(ShapeError, match="concat_columns"):
        concat_columns(heads, Embed(5))
    with pytest.raises(ShapeError, match="concat_columns"):
        concat_columns([], Embed(0))


def test_tolist_is_a_copy() -> None:
    data = A.tolist()
    data[0][0] = -7.0
    assert A.rows[0][0] == 1.0


@pytest.mark.parametrize("storage", ["exact", "compact", "packed"])
def test_weights_prepared_by_the_kernels(storage: Storage) -> None:
    # The file layout is [out, in]: output 0's weights over the 2 inputs, then output 1's, ...
    # so this is B from test_matmul: columns (1, -1), (0, 3), (2, 1).
    stored = array("f", [1.0, -1.0, 0.0, 3.0, 2.0, 1.0])
    weight = weight_from_flat(stored, Embed(2), Hidden(3), storage)
    assert weight.shape == (2, 3)
    tolerance = 1e-6 if storage == "packed" else 1e-12
    product = (A @ weight).rows
    expected = [[-1.0, 6.0, 4.0], [-1.0, 12.0, 10.0], [-1.0, 18.0, 16.0]]
    assert all(p == pytest.approx(e, abs=tolerance) for p, e in zip(product, expected))
    # Transposed, the same numbers are a table whose rows are the weight's columns (GPT-2's
    # tied embedding): rows come back one at a time, and all at once.
    table = weight.T
    assert table.row(2) == pytest.approx([2.0, 1.0], abs=tolerance)
    assert take_rows(table, [1, 0], Seq(2)).rows[0] == pytest.approx([0.0, 3.0], abs=tolerance)
    assert weight.rows[1] == pytest.approx([-1.0, 3.0, 1.0], abs=tolerance)
    with pytest.raises(ShapeError, match="cannot grow"):
        table.append_rows(from_rows([[1.0, 1.0]], Seq(1), Embed(2)))
    with pytest.raises(ShapeError, match="weight_from_flat"):
        weight_from_flat(stored, Embed(3), Hidden(3), storage)
