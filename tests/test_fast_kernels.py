"""The product with a stored weight (fast/kernels.py) in the exact and compact layouts, against the
exact dot product, on seeded data shaped like GPT-2's; and what every layout checks.

The reference is exact (helpers.exact_dot): each product is split into two floats with Dekker's
algorithm and all the pieces are summed by math.fsum, which rounds the true sum once.  The exact
kernels must be within 1e-12 * |w| |x| of it (the requirement is 1e-6; the math.dist identity's
error is a few ulps of |w|^2 + |x|^2 after scaling x to |w|).  Packed weights: test_fast_packed.py.
"""

from __future__ import annotations

import math
import random
from array import array

import pytest

from helpers import assert_exact, flat_of, make_columns, post_gelu, post_layernorm
from potatogpt.fast.compact import CompactWeight, prepare_compact
from potatogpt.fast.exact import ExactWeight, prepare_exact, prepare_exact_flat
from potatogpt.fast.kernels import KernelWeight as Weight, matmul_weight, weight_column, weight_columns
from potatogpt.fast.packed import PackedWeight, prepare_packed


# --- Exact and compact weights ----------------------------------------------------------------
def exact_weights(columns: list[list[float]], typecode: str = "d") -> list[Weight]:
    n_in, n_out = len(columns[0]), len(columns)
    flat = flat_of(columns, typecode)
    return [
        prepare_exact(columns),
        prepare_exact([tuple(c) for c in columns]),
        prepare_exact_flat(flat, n_in, n_out),
        prepare_compact(flat, n_in, n_out),
    ]


@pytest.mark.parametrize(("n_in", "n_out"), [(1, 1), (1, 9), (13, 1), (301, 37), (768, 5)])
@pytest.mark.parametrize("n_rows", [1, 3])
def test_exact_and_compact_weights(n_in: int, n_out: int, n_rows: int) -> None:
    rng = random.Random(n_in * 100 + n_out + n_rows)
    columns = make_columns(rng, n_in, n_out)
    rows = [post_layernorm(rng, n_in) for _ in range(n_rows)]
    for weight in exact_weights(columns) + exact_weights(columns, "f"):
        assert_exact(matmul_weight(rows, weight), rows, columns)


@pytest.mark.parametrize("sigma", [0.02, 0.2])
def test_exact_on_gpt2_mlp_projection_magnitudes(sigma: float) -> None:
    """3072-wide post-GELU activations into 3072 x 5 weights (like mlp.c_proj)."""
    rng = random.Random(3072)
    columns = make_columns(rng, 3072, 5, sigma)
    rows = [post_gelu(rng, 3072) for _ in range(2)]
    for weight in exact_weights(columns, "f"):
        assert_exact(matmul_weight(rows, weight), rows, columns)
        assert_exact(matmul_weight(rows[:1], weight), rows[:1], columns)


def test_prepare_exact_keeps_tuples_without_copying() -> None:
    columns = [(1.0, 2.0), (3.0, 4.0)]
    weight = prepare_exact(columns)
    assert all(a is b for a, b in zip(weight.columns, columns))


def test_compact_keeps_the_flat_array() -> None:
    flat = array("f", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    weight = prepare_compact(flat, 3, 2)
    assert weight.flat is flat
    assert weight_columns(weight) == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert weight_column(weight, 1) == [4.0, 5.0, 6.0]


def test_exact_weight_columns_round_trip() -> None:
    columns = make_columns(random.Random(1), 17, 4)
    for weight in exact_weights(columns):
        assert weight_columns(weight) == columns
        assert weight_column(weight, 3) == columns[3]
        with pytest.raises(IndexError):
            weight_column(weight, 4)


def test_negatives_and_cancellation() -> None:
    """w = x and w = -x: the identity's worst and best cases (|w - x| = 0 or 2|x|)."""
    rng = random.Random(11)
    x = post_layernorm(rng, 257)
    neg = [-v for v in x]
    columns = [x, neg, [-abs(v) for v in x], [v if k % 2 else -v for k, v in enumerate(x)]]
    for weight in exact_weights(columns):
        assert_exact(matmul_weight([x, neg], weight), [x, neg], columns)


def test_zeros() -> None:
    columns = [[0.0] * 5, [1.0, -2.0, 0.0, 4.0, 0.5]]
    for weight in exact_weights(columns):
        assert matmul_weight([[0.0] * 5], weight) == [[0.0, 0.0]]
        out = matmul_weight([[1.0, 1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 3.0, 0.0, 0.0]], weight)
        assert out[0][0] == 0.0 and out[1] == [0.0, 0.0]
        assert out[0][1] == pytest.approx(3.5, rel=1e-15)
    assert matmul_weight([[0.0] * 5], prepare_exact([[0.0] * 5])) == [[0.0]]


@pytest.mark.parametrize(("x_scale", "w_scale"), [(1e30, 1e-30), (1e-30, 1e30), (1e150, 1.0), (1e-150, 1e-150)])
def test_large_and_tiny_magnitudes(x_scale: float, w_scale: float) -> None:
    rng = random.Random(5)
    columns = [[v * w_scale for v in c] for c in make_columns(rng, 40, 6, 1.0)]
    rows = [[v * x_scale for v in post_layernorm(rng, 40)] for _ in range(2)]
    for weight in exact_weights(columns):
        assert_exact(matmul_weight(rows, weight), rows, columns)


def test_non_finite_values_fall_back_to_plain_float_arithmetic() -> None:
    huge = [[1e200, 1.0], [1.0, 2.0]]  # |w|^2 overflows: the identity can't be used
    for weight in exact_weights(huge):
        assert matmul_weight([[1.0, 1.0]], weight) == [[1e200 + 1.0, 3.0]]
    for weight in exact_weights([[1.0, 2.0], [0.0, 1.0]]):
        out = matmul_weight([[math.inf, 1.0]], weight)
        assert out[0][0] == math.inf and math.isnan(out[0][1])  # inf * 0 is nan, as in a loop


# --- Every layout: sizes checked, empty prompt blocks -----------------------------------------
def test_row_length_is_checked() -> None:
    columns = [[1.0, 2.0, 3.0]]
    for weight in [*exact_weights(columns), prepare_packed(flat_of(columns), 3, 1)]:
        with pytest.raises(ValueError):
            matmul_weight([[1.0, 2.0]], weight)


def test_flat_size_is_checked() -> None:
    for prepare in (prepare_exact_flat, prepare_compact, prepare_packed):
        with pytest.raises(ValueError):
            prepare(array("f", [1.0, 2.0, 3.0]), 2, 2)


def test_empty_prompt_block_for_every_weight_kind() -> None:
    columns = make_columns(random.Random(2), 5, 3)
    weights: list[Weight] = [*exact_weights(columns), prepare_packed(flat_of(columns), 5, 3)]
    for weight in weights:
        assert matmul_weight([], weight) == []
    assert {type(w) for w in weights} == {ExactWeight, CompactWeight, PackedWeight}
