"""Packed weights (fast/packed.py): fixed-point weights side by side in big integers, within the
rounding bound their quantization steps imply of the exact product (helpers.exact_dot), and the
shards --jobs cuts them into."""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Sequence

import pytest

from helpers import exact_dot, flat_of, make_columns, post_gelu, post_layernorm
from potatogpt.fast import packed
from potatogpt.fast.kernels import matmul_weight, weight_column, weight_columns
from potatogpt.fast.packed import PackedWeight, prepare_packed


# --- Against the exact product, within the quantization bound ---------------------------------
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


# --- Shards, for --jobs -----------------------------------------------------------------------
@pytest.mark.parametrize(("n_in", "n_out", "chunk", "jobs"), [(5, 23, 4, 2), (5, 23, 4, 3), (3, 9, 16, 2), (4, 8, 4, 2)])
def test_a_slice_of_a_packed_weight_is_that_shard_quantized(n_in: int, n_out: int, chunk: int, jobs: int) -> None:
    rng = random.Random(n_out * jobs)
    flat = array("f", [rng.gauss(0.0, 1.0) for _ in range(n_in * n_out)])
    whole = packed._prepare_packed(flat, n_in, n_out, packed.FIELD_BYTES, packed.WEIGHT_BITS, chunk)
    bounds = packed.packed_input_bounds(flat, n_in, n_out)
    edges = [n_out * k // jobs for k in range(jobs + 1)]
    for start, stop in zip(edges, edges[1:]):
        fresh = packed._prepare_packed(flat[start * n_in : stop * n_in], n_in, stop - start, packed.FIELD_BYTES,
                                        packed.WEIGHT_BITS, chunk, bounds)
        sliced = packed.packed_shard(whole, start, stop)
        assert (sliced.n_in, sliced.n_out, sliced.row_max) == (fresh.n_in, fresh.n_out, fresh.row_max)
        assert [(c.start, c.width, c.rows, c.offset, c.scales) for c in sliced.chunks] == [
            (c.start, c.width, c.rows, c.offset, c.scales) for c in fresh.chunks]


# --- Fields of a big integer ------------------------------------------------------------------
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
