"""Packed big-integer weights (~7.7 bytes/param, float32-like accuracy; see kernels.py)."""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterator, Sequence
from itertools import repeat
from operator import add, mul, sub

from .shared import check_flat

# --- Packed big-integer weights ------------------------------------------------------------------
# Field layout (see PackedWeight).  Measured by bench/bench_kernels.py: the cost is proportional to
# the field width (CPython works in 30-bit digits), so the fields are as narrow as the accuracy
# target allows and a whole number of bytes wide, which makes unpacking a few C-level byte copies.
FIELD_BYTES = 7  # 56-bit fields: 8% quicker than 64, and still 5x more accurate than a float32 loop
WEIGHT_BITS = 25  # magnitude bits of a quantized weight: |q| <= 2**25 - 1; x gets the other ~30
# Output channels per packed int (28 KiB ints).  Wider chunks mean fewer Python-level big-int
# operations: 512 -> 4096 took a 768 x 16384 product from 4.8 to 3.8 ns/MAC on 3.13.  The price is
# `weight_column` (one shift per input across a whole chunk): ~5 ms per column at 4096.
CHUNK = 4096
_DIGIT_MAX = (1 << 30) - 1  # one CPython digit: int * (one-digit int) is CPython's fastest multiply


class Chunk:
    """Output channels [start, start + width) of a packed weight."""

    __slots__ = ("start", "width", "rows", "offset", "scales")

    def __init__(self, start: int, width: int, rows: list[int], offset: int, scales: list[float]) -> None:
        self.start = start
        self.width = width
        self.rows = rows  # rows[k] = sum_j q[k][start+j] << (F*j): input k's weights, all outputs
        self.offset = offset  # sum_j 2**(F-1) << (F*j): makes every field non-negative
        self.scales = scales  # weight scale per output channel


class PackedWeight:
    """Weights quantized to integers and packed side by side into Python ints (lossy, ~float32).

    Layout, for a field width of F bits (F = 8 * field_bytes): output channel j's weight for input
    k is quantized per column, q[k][j] = round(W[k][j] / scale[j]) with |q| <= 2**weight_bits - 1,
    and input k's weights for a chunk of outputs are packed as ONE int
        rows[k] = sum_j q[k][j] * 2**(F*j)        (signed fields: a negative q just borrows).
    A row of activations x is quantized per call, qx[k] = round(x[k] * 2**e), and then
        acc = sum_k qx[k] * rows[k] = sum_j Y[j] * 2**(F*j),   Y[j] = sum_k qx[k] * q[k][j]
    is n_in big-int multiply-adds that each do a whole chunk of outputs.

    Why it never overflows: with m[k] = max_j |q[k][j]| (precomputed), |Y[j]| <= sum_k |qx[k]| m[k]
    <= 2**e * sum_k |x[k]| m[k] + sum_k m[k]/2.  The exponent e is chosen per call (dynamic
    scaling of x) as the largest that keeps this bound < 2**(F-1), and that keeps |qx[k]| within one
    30-bit CPython digit (multiplying by a one-digit int is the fastest multiply).  Then every Y[j]
    fits a signed F-bit field, so adding offset = sum_j 2**(F-1) * 2**(F*j) gives an integer whose
    base-2**F digits are exactly Y[j] + 2**(F-1): no field carries into its neighbour, and
    unpacking is `to_bytes` plus byte copies.  Results are Y[j] * scale[j] * 2**-e.

    Accuracy: the only errors are the two roundings (weights to weight_bits relative to their
    column's max, x to ~F - 1 - weight_bits bits relative to its weighted L1 norm); measured
    relative errors are in bench/bench_kernels.py's output and kernels' tests.
    """

    __slots__ = ("n_in", "n_out", "field_bytes", "weight_bits", "chunk_size", "chunks", "row_max", "row_max_sum")

    def __init__(
        self,
        n_in: int,
        n_out: int,
        field_bytes: int,
        weight_bits: int,
        chunk_size: int,
        chunks: list[Chunk],
        row_max: list[int],
    ) -> None:
        self.chunk_size = chunk_size
        self.n_in = n_in
        self.n_out = n_out
        self.field_bytes = field_bytes
        self.weight_bits = weight_bits
        self.chunks = chunks
        self.row_max = [float(m) for m in row_max]  # floats: summed against |x| in one C loop
        self.row_max_sum = sum(row_max)


def prepare_packed(
    flat: array[float], n_in: int, n_out: int, input_bounds: Sequence[int] | None = None
) -> PackedWeight:
    """Quantize and pack n_out columns of n_in floats (back to back) into a `PackedWeight`.

    Works one chunk of outputs and one input at a time from strided slices of `flat`, so no nested
    float lists are built: peak memory is `flat` plus the packed ints.  `input_bounds` (from
    `packed_input_bounds` of a whole matrix) makes a shard of that matrix scale x exactly as the
    whole matrix would, so that --jobs gives the same numbers as one process.
    """
    return _prepare_packed(flat, n_in, n_out, FIELD_BYTES, WEIGHT_BITS, CHUNK, input_bounds)


def packed_input_bounds(flat: array[float], n_in: int, n_out: int) -> list[int]:
    """max_j |q[k][j]| for each input k of a whole matrix: the m[k] of PackedWeight's bound."""
    check_flat(flat, n_in, n_out)
    q_max = (1 << WEIGHT_BITS) - 1
    inverses = [q_max / m if m > 0.0 else 0.0 for m in _column_max(_columns(flat, n_in, n_out))]
    bounds = []
    for k in range(n_in):
        scaled = list(map(mul, flat[k::n_in].tolist(), inverses))
        bounds.append(round(max(max(scaled), -min(scaled))))
    return bounds


def _prepare_packed(
    flat: array[float], n_in: int, n_out: int, field_bytes: int, weight_bits: int, chunk: int,
    input_bounds: Sequence[int] | None = None,
) -> PackedWeight:
    check_flat(flat, n_in, n_out)
    bits = 8 * field_bytes
    if not 1 <= field_bytes <= 8 or not 2 <= weight_bits <= bits - 8 or chunk < 1:
        raise ValueError("prepare_packed: bad field layout")
    q_max = (1 << weight_bits) - 1
    # The bound in PackedWeight must leave room for x even at one unit per input.
    if n_in * q_max >= 1 << (bits - 2):
        raise ValueError(f"prepare_packed: {n_in} inputs don't fit {bits}-bit fields with {weight_bits}-bit weights")
    columns = _columns(flat, n_in, n_out)
    col_max = _column_max(columns)
    # (max/min skip NaNs, so check sums: a NaN or inf anywhere makes its column's sum non-finite.)
    if not all(map(math.isfinite, map(sum, columns))):
        raise ValueError("prepare_packed: weights must be finite")
    scales = [m / q_max for m in col_max]
    inverses = [q_max / m if m > 0.0 else 0.0 for m in col_max]
    # Rounding to integers without a Python call per weight: adding MAGIC = 1.5 * 2**52 (+ a bias
    # below 2**51) to a float of magnitude < 2**51 rounds it to an integer (half to even, like
    # round()) and leaves that integer in the low mantissa bits, so the float's 8 bytes, read as an
    # unsigned int, are lane_bias + q.  The low F bits of every lane are then a non-negative field,
    # and one subtraction of lane_bias per field (`offset`) leaves sum_j q_j * 2**(F*j).
    magic = 1.5 * 2.0**52 + (float(1 << (bits - 1)) if bits <= 50 else 0.0)
    lane_bias = int.from_bytes(array("d", [magic]).tobytes(), sys.byteorder) & ((1 << bits) - 1)
    row_max = [0] * n_in
    chunks: list[Chunk] = []
    for start in range(0, n_out, chunk):
        stop = min(n_out, start + chunk)
        width = stop - start
        offset = replicate(lane_bias, bits, width)
        invs = inverses[start:stop]
        rows: list[int] = []
        for k in range(n_in):
            # Input k's weight in each column start..stop-1: a strided slice of the column-major flat.
            scaled = list(map(mul, flat[start * n_in + k : stop * n_in : n_in].tolist(), invs))
            row_max[k] = max(row_max[k], round(max(max(scaled), -min(scaled))))
            lanes = array("d")
            lanes.fromlist(list(map(add, scaled, repeat(magic))))  # fromlist: a quick C loop
            rows.append(int.from_bytes(_narrow(_as_uint64(lanes), field_bytes), "little") - offset)
        chunks.append(Chunk(start, width, rows, replicate(1 << (bits - 1), bits, width), scales[start:stop]))
    if input_bounds is not None:
        if len(input_bounds) != n_in:
            raise ValueError(f"prepare_packed: {len(input_bounds)} input bounds for {n_in} inputs")
        row_max = list(map(max, row_max, input_bounds))
    return PackedWeight(n_in, n_out, field_bytes, weight_bits, chunk, chunks, row_max)


def _columns(flat: array[float], n_in: int, n_out: int) -> list[memoryview]:
    """Zero-copy views of the n_out columns (n_in floats each) stored back to back in flat."""
    view = memoryview(flat)
    return [view[j * n_in : (j + 1) * n_in] for j in range(n_out)]


def _column_max(columns: Sequence[memoryview]) -> list[float]:
    """max |w| per column: what each column's quantization scale is set from."""
    return [max(max(c), -min(c)) for c in columns]


def replicate(value: int, bits: int, count: int) -> int:
    """sum_j value << (bits * j) for j < count, built by doubling (a few big-int ops)."""
    result, block, n = 0, value, 1
    while count:
        if count & 1:
            result = (result << (bits * n)) | block
        block |= block << (bits * n)
        n *= 2
        count >>= 1
    return result


def _as_uint64(doubles: array[float]) -> array[int]:
    """The same 8-byte lanes read as unsigned ints (native byte order, no copy of the values)."""
    lanes = array("Q")
    lanes.frombytes(doubles.tobytes())
    return lanes


def _narrow(lanes: array[int], field_bytes: int) -> bytes:
    """Little-endian bytes of each 8-byte lane's low field_bytes bytes, back to back."""
    if sys.byteorder == "big":
        lanes = array("Q", lanes)
        lanes.byteswap()
    raw = lanes.tobytes()
    if field_bytes == 8:
        return raw
    out = bytearray(field_bytes * len(lanes))
    for i in range(field_bytes):  # field_bytes extended-slice copies, each one C loop
        out[i::field_bytes] = raw[i::8]
    return bytes(out)


def _widen(packed: bytes, field_bytes: int, width: int) -> array[int]:
    """Inverse of `_narrow`: width unsigned fields of field_bytes bytes -> an array of 'Q'."""
    if field_bytes == 8:
        raw = packed
    else:
        buf = bytearray(8 * width)
        for i in range(field_bytes):
            buf[i::8] = packed[i::field_bytes]
        raw = bytes(buf)
    lanes = array("Q")
    lanes.frombytes(raw)
    if sys.byteorder == "big":
        lanes.byteswap()
    return lanes


def _quantize_row(x: Sequence[float], weight: PackedWeight) -> tuple[list[int], float] | None:
    """qx and the factor 2**-e that undoes its scaling (see PackedWeight); None if x is all
    zeros.  Raises for inf/nan, which fixed point cannot represent."""
    bound = sum(map(mul, map(abs, x), weight.row_max))  # sum_k |x_k| m_k, one C loop
    if bound == 0.0:
        return None
    biggest = max(map(abs, x))
    if not math.isfinite(bound):
        raise ValueError("packed matmul: activations must be finite")
    limit = (1 << (8 * weight.field_bytes - 1)) - 1 - weight.row_max_sum  # room for roundings
    # Largest power of two g with g * bound <= limit and g * biggest + 1/2 <= one digit; the
    # (1 - 2**-30) absorbs the float rounding of `bound`.
    g_max = min(limit * (1.0 - 2.0**-30) / bound, (_DIGIT_MAX - 1) / biggest, 2.0**1000)
    e = math.frexp(g_max)[1] - 1
    g = math.ldexp(1.0, e)
    return list(map(round, map(mul, x, repeat(g)))), math.ldexp(1.0, -e)


def packed_matmul(rows: Sequence[Sequence[float]], weight: PackedWeight) -> list[list[float]]:
    quantized = []
    for x in rows:
        if len(x) != weight.n_in:
            raise ValueError(f"matmul: row of length {len(x)} against weights with {weight.n_in} inputs")
        quantized.append(_quantize_row(x, weight))
    out: list[list[float]] = [[] for _ in rows]
    fb = weight.field_bytes
    half = 1 << (8 * fb - 1)
    # Chunk-outer: a chunk's packed rows (n_in ints of CHUNK fields) are reused by every row of a
    # prompt block while they are still in cache.
    for chunk in weight.chunks:
        for result, qs in zip(out, quantized):
            if qs is None:
                result.extend([0.0] * chunk.width)
                continue
            qx, unscale = qs
            # The whole chunk of outputs: n_in big-int multiply-adds, looped in C by sum(map()).
            acc: int = sum(map(mul, qx, chunk.rows))
            fields = _widen((acc + chunk.offset).to_bytes(fb * chunk.width, "little"), fb, chunk.width)
            values = map(mul, map(sub, fields, repeat(half)), chunk.scales)
            result.extend(map(mul, values, repeat(unscale)))
    return out



def packed_column(weight: PackedWeight, j: int) -> list[float]:
    chunk = weight.chunks[j // weight.chunk_size]
    bits = 8 * weight.field_bytes
    shift, mask, half = bits * (j - chunk.start), (1 << bits) - 1, 1 << (bits - 1)
    scale = chunk.scales[j - chunk.start]
    off = chunk.offset
    return [((((r + off) >> shift) & mask) - half) * scale for r in chunk.rows]


def packed_columns(weight: PackedWeight) -> list[list[float]]:
    columns: list[list[float]] = []
    fb = weight.field_bytes
    half = 1 << (8 * fb - 1)
    for chunk in weight.chunks:
        by_input: Iterator[list[int]] = (
            list(map(sub, _widen((r + chunk.offset).to_bytes(fb * chunk.width, "little"), fb, chunk.width), repeat(half)))
            for r in chunk.rows
        )
        for scale, q in zip(chunk.scales, zip(*by_input)):
            columns.append([v * scale for v in q])
    return columns


def packed_shard(weight: PackedWeight, start: int, stop: int) -> PackedWeight:
    """Output columns [start, stop) of a packed weight, chunked from `start` as prepare_packed
    chunks a matrix: exactly what quantizing that shard of the matrix would give, with the whole
    matrix's input bounds (see parallel.load_shard), because every column is quantized on its own.

    Per packed row, a few shifts and masks of the big ints: C loops, no Python loop per weight.
    """
    bits = 8 * weight.field_bytes
    chunks = []
    for first in range(start, stop, weight.chunk_size):
        last = min(stop, first + weight.chunk_size)
        rows = [0] * weight.n_in
        scales: list[float] = []
        for old in weight.chunks:  # the old chunks that overlap [first, last)
            lo, hi = max(first, old.start), min(last, old.start + old.width)
            if lo >= hi:
                continue
            shift, mask, to = bits * (lo - old.start), (1 << (bits * (hi - lo))) - 1, bits * (lo - first)
            rows = [r | ((((o + old.offset) >> shift) & mask) << to) for r, o in zip(rows, old.rows)]
            scales.extend(old.scales[lo - old.start : hi - old.start])
        offset = replicate(1 << (bits - 1), bits, last - first)
        chunks.append(Chunk(first - start, last - first, [r - offset for r in rows], offset, scales))
    row_max = [int(m) for m in weight.row_max]
    return PackedWeight(weight.n_in, stop - start, weight.field_bytes, weight.weight_bits, weight.chunk_size, chunks,
                        row_max)
