"""Every Tensor, Weight and Embedding operation against values worked out by hand, and the
run-time shape checks."""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Sequence

import pytest

from helpers import assert_exact, exact_dot, gauss_f32, post_layernorm
from potatogpt.tensor import (
    ONE, Ctx, Embed, HeadDim, Hidden, Seq, ShapeError, Vocab, Weight, concat_columns, dot,
    embedding_from_rows, empty_weight, from_columns, from_flat, from_rows, matmul, take_rows,
    weight_from_flat, weight_from_rows, zeros,
)

A = from_rows([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], Seq(3), Embed(2))  # 3 x 2
B = from_rows([[1.0, 0.0, 2.0], [-1.0, 3.0, 1.0]], Embed(2), Hidden(3))  # 2 x 3


def test_constructors_and_shape() -> None:
    assert A.shape == (3, 2)
    assert A.rows == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
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
    assert from_flat(array("f", [1, 2, 3, 4, 5, 6]), Seq(3), Embed(2)).rows == A.rows
    with pytest.raises(ShapeError, match="from_flat"):
        from_flat([1.0, 2.0, 3.0], Seq(2), Embed(2))


def test_dot_and_matmul_are_the_sums_of_products() -> None:
    assert dot([1.0, 2.0, 3.0], [4.0, -5.0, 6.0]) == 1 * 4 - 2 * 5 + 3 * 6
    assert dot([], []) == 0.0
    # Small whole numbers stay exact: 1*2 + 3*4 is 14.0, not 14.000000000000002.
    assert matmul([[1.0, 3.0]], [[2.0, 4.0], [0.5, 0.25]]) == [[14.0, 1.25]]
    assert matmul([], [[1.0]]) == []


def test_matmul() -> None:
    # [1 2]   [ 1 0 2]   [-1  6  4]
    # [3 4] @ [-1 3 1] = [-1 12 10]
    # [5 6]              [-1 18 16]
    product = A @ B
    assert product.shape == (3, 3)
    assert product.rows == [[-1.0, 6.0, 4.0], [-1.0, 12.0, 10.0], [-1.0, 18.0, 16.0]]


def test_matmul_with_a_weight() -> None:
    weight = weight_from_rows([[1.0, 0.0, 2.0], [-1.0, 3.0, 1.0]], Embed(2), Hidden(3))  # = B
    assert weight.shape == (2, 3)
    assert weight.columns == [[1.0, -1.0], [0.0, 3.0], [2.0, 1.0]]
    assert (A @ weight).rows == [[-1.0, 6.0, 4.0], [-1.0, 12.0, 10.0], [-1.0, 18.0, 16.0]]
    # A weights file stores the same matrix column after column ([out, in]).
    stored = weight_from_flat(array("f", [1.0, -1.0, 0.0, 3.0, 2.0, 1.0]), Embed(2), Hidden(3))
    assert stored.columns == weight.columns
    with pytest.raises(ShapeError, match="weight_from_flat"):
        weight_from_flat([1.0, 2.0], Embed(2), Hidden(3))
    with pytest.raises(ShapeError, match="weight_from_rows"):
        weight_from_rows([[1.0]], Embed(2), Hidden(3))
    three_inputs = weight_from_rows([[1.0, 2.0]] * 3, Seq(3), Embed(2))
    with pytest.raises(ShapeError, match=r"matmul: \(3, 2\) @ \(3, 2\)"):
        A @ three_inputs  # type: ignore[operator]  # deliberately wrong, to see the run-time check


class CountingLayout:
    """A stand-in fast layout: records that `@` asked it, and answers with marked numbers."""

    def __init__(self) -> None:
        self.calls: list[list[list[float]]] = []

    def matmul(self, rows: Sequence[Sequence[float]]) -> list[list[float]]:
        self.calls.append([list(r) for r in rows])
        return [[7.0, 8.0, 9.0]]

    def column(self, j: int) -> list[float]:
        return [float(j), -float(j)]


def test_a_weight_with_a_fast_layout_hands_it_the_product() -> None:
    layout = CountingLayout()
    weight = Weight(Embed(2), Hidden(3), fast=layout)
    x = from_rows([[1.0, 2.0]], ONE, Embed(2))
    assert (x @ weight).rows == [[7.0, 8.0, 9.0]]
    assert layout.calls == [[[1.0, 2.0]]]
    assert weight.column(2) == [2.0, -2.0]
    assert weight.columns == [[0.0, -0.0], [1.0, -1.0], [2.0, -2.0]]
    with pytest.raises(ShapeError, match="cannot grow"):
        weight.append_column([1.0, 1.0])
    with pytest.raises(ValueError, match="either its columns or a fast layout"):
        Weight(Embed(2), Hidden(3))


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


def test_embedding_lookup_and_its_transpose() -> None:
    table = embedding_from_rows([[0.0, 0.5], [1.0, 1.5], [2.0, 2.5]], Vocab(3), Embed(2))
    assert table.shape == (3, 2)
    picked = table.lookup([2, 0, 2], Seq(3))
    assert picked.rows == [[2.0, 2.5], [0.0, 0.5], [2.0, 2.5]]
    picked.rows[0][0] = 99.0  # copies: the table is unchanged
    assert table.lookup([2], ONE).rows == [[2.0, 2.5]]
    # Transposed, the table is the weight of an output layer: one score per row, x . row.
    assert table.T.shape == (2, 3)
    assert (from_rows([[1.0, 2.0]], ONE, Embed(2)) @ table.T).rows == [[1.0, 4.0, 7.0]]
    with pytest.raises(ShapeError, match="out of range"):
        table.lookup([3], ONE)
    with pytest.raises(ShapeError, match="2 indices for 1 rows"):
        table.lookup([0, 1], ONE)
    with pytest.raises(ShapeError, match="embedding_from_rows"):
        embedding_from_rows([[1.0]], Vocab(1), Embed(2))


def test_row() -> None:
    assert A.row(-1) == [5.0, 6.0]
    with pytest.raises(ShapeError, match="row"):
        A.row(3)


def test_a_kv_cache_weight_grows_by_columns_and_rows() -> None:
    keys_t = empty_weight(HeadDim(2), Ctx(0))  # K^T: one column per position
    values = empty_weight(Ctx(0), HeadDim(2))  # V: one row per position
    for key, value in [([1.0, 2.0], [10.0, 20.0]), ([3.0, 4.0], [30.0, 40.0])]:
        keys_t.append_column(key)
        values.append_row(value)
    assert keys_t.shape == (2, 2) and keys_t.columns == [[1.0, 2.0], [3.0, 4.0]]
    assert values.shape == (2, 2) and values.columns == [[10.0, 30.0], [20.0, 40.0]]
    q = from_rows([[1.0, 1.0]], ONE, HeadDim(2))
    scores = q @ keys_t  # q . k for each position: 1+2, 3+4
    assert scores.rows == [[3.0, 7.0]]
    assert (scores @ values).rows == [[3 * 10 + 7 * 30, 3 * 20 + 7 * 40]]
    with pytest.raises(ShapeError, match="append_column: 3 values"):
        keys_t.append_column([1.0, 2.0, 3.0])
    with pytest.raises(ShapeError, match="append_row: 1 values"):
        values.append_row([1.0])
    with pytest.raises(ShapeError, match="not empty"):
        empty_weight(HeadDim(2), Ctx(1))


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


# --- The plain product against the exact dot product (helpers.exact_dot) ----------------------
@pytest.mark.parametrize("n", [1, 2, 7, 64, 769])
def test_dot_matches_exact(n: int) -> None:
    rng = random.Random(n)
    a, b = post_layernorm(rng, n), gauss_f32(rng, n, 0.2)
    scale = math.fsum(abs(u * v) for u, v in zip(a, b))
    assert abs(dot(a, b) - exact_dot(a, b)) <= n * 1.2e-16 * scale


@pytest.mark.parametrize("n_rows", [0, 1, 5])
@pytest.mark.parametrize(("n", "n_cols"), [(1, 1), (64, 7), (65, 33)])
def test_plain_matmul_matches_exact(n_rows: int, n: int, n_cols: int) -> None:
    rng = random.Random(n_rows * 1000 + n * 10 + n_cols)
    rows = [post_layernorm(rng, n) for _ in range(n_rows)]
    columns = [[rng.gauss(0.0, 1.0) for _ in range(n)] for _ in range(n_cols)]
    assert_exact(matmul(rows, columns), rows, columns)


def test_plain_matmul_accepts_tuples_and_lists_mixed() -> None:
    rows = [(1.0, -2.0, 3.0)] * 5
    columns: list[Sequence[float]] = [[0.5, 0.25, -1.0], (2.0, 0.0, 1.0)]
    assert_exact(matmul(rows, columns), rows, columns)
    assert matmul([[1.0, 2.0]] * 5, []) == [[]] * 5
