"""Kernels against the exact dot product, on seeded data shaped like GPT-2's.

The reference is exact: each product is split into two floats with Dekker's algorithm and all the
pieces are summed by math.fsum, which rounds the true sum once.  The exact kernels must be within
1e-12 * |w| |x| of it (the requirement is 1e-6; the math.dist identity's error is a few ulps of
|w|^2 + |x|^2 after scaling x to |w|).  The packed kernel must stay within the rounding bound its
quantization steps imply.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Sequence

import pytest

from exact_reference import exact_dot
from potatogpt.fast import packed
from potatogpt.tensor import dot, matmul
from potatogpt.fast.compact import CompactWeight, prepare_compact
from potatogpt.fast.exact import ExactWeight, prepare_exact, prepare_exact_flat
from potatogpt.fast.kernels import KernelWeight as Weight, matmul_weight, weight_column, weight_columns
from potatogpt.fast.packed import PackedWeight, prepare_packed


def norm(a: Sequence[float]) -> float:
    return math.hypot(*a)


def gauss_f32(rng: random.Random, n: int, sigma: float) -> list[float]:
    """Float32-representable weights, like GPT-2's checkpoint, with rare 10x outliers."""
    return list(array("f", [rng.gauss(0.0, sigma) * (10.0 if rng.random() < 0.002 else 1.0) for _ in range(n)]))


def post_layernorm(rng: random.Random, n: int) -> list[float]:
    x = [rng.gauss(0.0, 1.0) for _ in range(n)]
    for k in rng.sample(range(n), min(n, 3)):
        x[k] = rng.choice((-1.0, 1.0)) * rng.uniform(8.0, 20.0)
    return x


def post_gelu(rng: random.Random, n: int) -> list[float]:
    pre = [rng.gauss(0.0, 1.5) for _ in range(n)]
    for k in rng.sample(range(n), min(n, 3)):
        pre[k] = rng.uniform(-10.0, 10.0)
    return [0.5 * v * (1.0 + math.tanh(0.7978845608028654 * (v + 0.044715 * v**3))) for v in pre]


def make_columns(rng: random.Random, n_in: int, n_out: int, sigma: float = 0.02) -> list[list[float]]:
    return [gauss_f32(rng, n_in, sigma) for _ in range(n_out)]


def flat_of(columns: list[list[float]], typecode: str = "f") -> array[float]:
    return array(typecode, [v for c in columns for v in c])


def assert_exact(out: list[list[float]], rows: Sequence[Sequence[float]], columns: Sequence[Sequence[float]]) -> None:
    """Within 1e-12 |w||x| (and so within 1e-6 relative of any float64 loop) of the exact value."""
    assert len(out) == len(rows)
    for x, y in zip(rows, out):
        assert len(y) == len(columns)
        for c, v in zip(columns, y):
            ref = exact_dot(c, x)
            assert abs(v - ref) <= 1e-12 * norm(c) * norm(x), (v, ref)
            assert abs(v - ref) <= 1e-6 * max(1.0, abs(ref))


def exact_weights(columns: list[list[float]], typecode: str = "d") -> list[Weight]:
    n_in, n_out = len(columns[0]), len(columns)
    flat = flat_of(columns, typecode)
    return [
        prepare_exact(columns),
        prepare_exact([tuple(c) for c in columns]),
        prepare_exact_flat(flat, n_in, n_out),
        prepare_compact(flat, n_in, n_out),
    ]


# --- The plain product every kernel must reproduce ----------------------------------------------
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


# --- Exact and compact weights ----------------------------------------------------------------
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


def test_row_length_is_checked() -> None:
    columns = [[1.0, 2.0, 3.0]]
    for weight in [*exact_weights(columns), prepare_packed(flat_of(columns), 3, 1)]:
        with pytest.raises(ValueError):
            matmul_weight([[1.0, 2.0]], weight)


def test_flat_size_is_checked() -> None:
    for prepare in (prepare_exact_flat, prepare_compact, prepare_packed):
        with pytest.raises(ValueError):
            prepare(array("f", [1.0, 2.0, 3.0]), 2, 2)


# --- Packed weights ---------------------------------------------------------------------------
def packed_bound(weight: PackedWeight, columns: list[list[float]], x: Sequence[float]) -> list[float]:
    """The worst-case error from the two roundings: weight steps s_j, x step u (per call)."""
    quantized = packed._quantize_row(x, weight)
    assert quantized is not None
    qx, u = quantized
    q_max = (1 << weight.weight_bits) - 1
    ax = math.fsum(map(abs, x))
    bounds = []
    for c in columns:
        s = max(map(abs, c)) / q_max
        bounds.append(0.5 * s * ax + 0.5 * u * math.fsum(map(abs, c)) + 0.25 * s * u * len(x))
    return bounds


def check_packed(weight: PackedWeight, rows: list[list[float]], columns: list[list[float]], rel: float) -> None:
    out = matmul_weight(rows, weight)
    assert len(out) == len(rows)
    for x, y in zip(rows, out):
        assert len(y) == len(columns)
        for c, v, bound in zip(columns, y, packed_bound(weight, columns, x)):
            ref = exact_dot(c, x)
            err = abs(v - ref)
            assert err <= bound * (1 + 1e-9) + 1e-15 * abs(ref), (v, ref, bound)
            assert err <= rel * math.fsum(abs(a * b) for a, b in zip(c, x)), (v, ref)


@pytest.mark.parametrize(("n_in", "n_out", "n_rows"), [(1, 1, 1), (1, 5, 2), (13, 1, 1), (301, 37, 3), (768, 9, 1)])
def test_packed_matches_exact_within_its_bound(n_in: int, n_out: int, n_rows: int) -> None:
    rng = random.Random(n_in + 7 * n_out)
    columns = make_columns(rng, n_in, n_out)
    rows = [post_layernorm(rng, n_in) for _ in range(n_rows)]
    check_packed(prepare_packed(flat_of(columns), n_in, n_out), rows, columns, 2e-7)


def test_packed_on_gpt2_mlp_projection_magnitudes() -> None:
    rng = random.Random(30)
    columns = make_columns(rng, 3072, 6, 0.2)
    rows = [post_gelu(rng, 3072) for _ in range(2)]
    check_packed(prepare_packed(flat_of(columns), 3072, 6), rows, columns, 2e-7)


@pytest.mark.parametrize(("field_bytes", "weight_bits", "chunk"), [(8, 28, 3), (7, 25, 4), (6, 21, 1), (5, 16, 2)])
def test_packed_layouts_and_chunking(field_bytes: int, weight_bits: int, chunk: int) -> None:
    rng = random.Random(field_bytes)
    columns = make_columns(rng, 50, 11)
    rows = [post_layernorm(rng, 50) for _ in range(3)]
    weight = packed._prepare_packed(flat_of(columns), 50, 11, field_bytes, weight_bits, chunk)
    check_packed(weight, rows, columns, 1e-3)
    dequantized = weight_columns(weight)
    for j, (c, d) in enumerate(zip(columns, dequantized)):
        step = max(map(abs, c)) / ((1 << weight_bits) - 1)
        assert max(abs(a - b) for a, b in zip(c, d)) <= 0.5 * step * (1 + 1e-9)
        assert weight_column(weight, j) == pytest.approx(d, rel=1e-15, abs=0.0)


@pytest.mark.parametrize("field_bytes", [6, 7, 8])
def test_packed_worst_case_does_not_carry_between_fields(field_bytes: int) -> None:
    """Every weight at +-max and x at +-max, so each |Y_j| reaches the bound the x scaling allows."""
    n_in, n_out = 3072, 4
    wb = {6: 21, 7: 25, 8: 28}[field_bytes]
    signs = [1.0 if k % 3 else -1.0 for k in range(n_in)]
    columns = [[1.0] * n_in, [-1.0] * n_in, signs, [-s for s in signs]]
    weight = packed._prepare_packed(flat_of(columns), n_in, n_out, field_bytes, wb, 3)
    rows = [[5.0] * n_in, [-5.0] * n_in, [5.0 * s for s in signs], [1e-3] * (n_in - 1) + [20.0]]
    check_packed(weight, rows, columns, 1e-4)


def test_packed_zeros_negatives_and_empty_block() -> None:
    columns = [[0.0, 0.0, 0.0], [-1.0, -2.0, -3.0], [0.5, 0.0, -0.25]]
    weight = prepare_packed(flat_of(columns), 3, 3)
    assert matmul_weight([], weight) == []
    assert matmul_weight([[0.0, 0.0, 0.0]], weight) == [[0.0, 0.0, 0.0]]
    out = matmul_weight([[-1.0, 1.0, -2.0], [0.0, 0.0, 0.0]], weight)
    assert out[0] == pytest.approx([0.0, 5.0, 0.0], abs=1e-6)
    assert out[1] == [0.0, 0.0, 0.0]
    for got, want in zip(weight_columns(weight), columns):
        assert got == pytest.approx(want, abs=1e-7)


def test_packed_large_and_tiny_magnitudes() -> None:
    rng = random.Random(9)
    for w_scale, x_scale in [(1e30, 1e-30), (1e-30, 1e30), (1e-150, 1e-150)]:
        columns = [[v * w_scale for v in c] for c in make_columns(rng, 40, 3, 1.0)]
        rows = [[v * x_scale for v in post_layernorm(rng, 40)]]
        check_packed(prepare_packed(flat_of(columns, "d"), 40, 3), rows, columns, 2e-7)


def test_packed_rejects_non_finite() -> None:
    with pytest.raises(ValueError):
        prepare_packed(array("d", [1.0, math.inf]), 2, 1)
    with pytest.raises(ValueError):
        prepare_packed(array("d", [1.0, math.nan, 0.0, 1.0]), 2, 2)
    weight = prepare_packed(array("d", [1.0, 2.0]), 2, 1)
    with pytest.raises(ValueError):
        matmul_weight([[math.nan, 1.0]], weight)


def test_packed_weight_column_of_last_partial_chunk() -> None:
    rng = random.Random(4)
    columns = make_columns(rng, 6, packed.CHUNK + 3)
    weight = prepare_packed(flat_of(columns), 6, packed.CHUNK + 3)
    for j in (0, packed.CHUNK - 1, packed.CHUNK, packed.CHUNK + 2):
        assert weight_column(weight, j) == pytest.approx(columns[j], rel=0, abs=1e-7 * max(map(abs, columns[j])))


# --- Empty prompt blocks and helpers ----------------------------------------------------------
def test_empty_prompt_block_for_every_weight_kind() -> None:
    columns = make_columns(random.Random(2), 5, 3)
    weights: list[Weight] = [*exact_weights(columns), prepare_packed(flat_of(columns), 5, 3)]
    for weight in weights:
        assert matmul_weight([], weight) == []
    assert {type(w) for w in weights} == {ExactWeight, CompactWeight, PackedWeight}


@pytest.mark.parametrize("field_bytes", range(1, 9))
def test_narrow_widen_round_trip(field_bytes: int) -> None:
    rng = random.Random(field_bytes)
    values = [rng.randrange(1 << (8 * field_bytes)) for _ in range(9)]
    narrow = packed._narrow(array("Q", values), field_bytes)
    assert int.from_bytes(narrow, "little") == sum(v << (8 * field_bytes * j) for j, v in enumerate(values))
    assert list(packed._widen(narrow, field_bytes, 9)) == values


@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 8, 513])
def test_replicate(count: int) -> None:
    assert packed.replicate(5, 9, count) == sum(5 << (9 * j) for j in range(count))
