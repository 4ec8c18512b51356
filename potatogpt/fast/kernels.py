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
"""

from __future__ import annotations

import gc
import math
import sys
from array import array
from contextlib import contextmanager
from collections.abc import Iterator, Sequence
from itertools import repeat
from operator import add, mul, sub

from ..tensor import dot  # for rows that can't use the identity (zeros, inf or nan)

_dist = math.dist
_fsum = math.fsum
_INF = math.inf

# --- Exact weights: the math.dist identity ------------------------------------------------------
class ExactWeight:
    """A weight matrix prepared for the one-`math.dist`-per-output identity.

    `columns[j]` is output j's weights over the inputs, as a tuple: `math.dist` converts any
    non-tuple argument to a tuple on every call (allocating n_in references), which made it 2-3x
    slower with lists.  `sq_norms[j]` is |columns[j]|^2, correctly rounded (math.fsum).
    `scale_exp` is the binary exponent of the typical column norm; inputs are scaled to it.
    """

    __slots__ = ("columns", "sq_norms", "n_in", "n_out", "scale_exp", "finite")

    def __init__(self, columns: list[tuple[float, ...]], n_in: int) -> None:
        self.columns = columns
        self.n_in = n_in
        self.n_out = len(columns)
        self.sq_norms = _sq_norms(columns, n_in)
        # The identity subtracts |w|^2 terms, so it needs them finite; a weight with an inf/nan
        # (or a column norm overflowing float) falls back to the plain product.
        self.finite = all(map(math.isfinite, self.sq_norms))
        mean_sq = _fsum(self.sq_norms) / self.n_out if self.columns and self.finite else 0.0
        self.scale_exp = math.frexp(math.sqrt(mean_sq))[1] if mean_sq > 0.0 else 0


def _sq_norms(columns: Sequence[Sequence[float]], n_in: int) -> list[float]:
    """|c|^2 per column.  math.dist(c, 0) is |c| to within about an ulp and 4x quicker than
    math.fsum of the squares; squaring it costs one more rounding, which is below the identity's
    own error (the tests compare against exact products)."""
    zeros = (0.0,) * n_in
    return [d * d for d in map(_dist, columns, repeat(zeros))]


def prepare_exact(columns: Sequence[Sequence[float]]) -> ExactWeight:
    """Prepare columns (output j's weights over the inputs) for `matmul_weight`.

    Tuple columns are kept as they are (no copy).  Any other sequence is copied into a tuple once,
    because `math.dist` would otherwise copy it on every call: drop your lists afterwards, or
    build the tuples directly with `prepare_exact_flat` so they never exist twice.
    """
    tuples = [c if type(c) is tuple else tuple(c) for c in columns]
    n_in = len(tuples[0]) if tuples else 0
    if any(len(c) != n_in for c in tuples):
        raise ValueError("prepare_exact: columns have different lengths")
    return ExactWeight(tuples, n_in)


def prepare_exact_flat(flat: array[float], n_in: int, n_out: int) -> ExactWeight:
    """Like `prepare_exact`, from n_out columns of n_in floats back to back (the loader's layout).

    Builds each column's tuple straight from the array: no nested lists ever exist, so peak memory
    is the flat array plus the tuples.
    """
    _check_flat(flat, n_in, n_out)
    view = memoryview(flat)
    return ExactWeight([tuple(view[j * n_in : (j + 1) * n_in]) for j in range(n_out)], n_in)


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause Python's cycle collector while a model's weights are built, then freeze them.

    Every new tuple counts towards the next garbage collection, and the collections keep walking
    what was built so far: loading GPT-2 124M's weights (~160k tuples, 124M floats) took 18 s
    with the collector running and 6 s without.  Weights hold no reference cycles, so there is
    nothing for it to find; `gc.freeze()` afterwards moves them out of its sight for good (the
    first full collection would otherwise spend ~1.5 s walking them once more).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def _scaled_row(x: Sequence[float], scale_exp: int) -> tuple[tuple[float, ...], float, float] | None:
    """x scaled by a power of two so |x| ~ 2**scale_exp, its squared norm, and the factor that
    undoes both the scaling and the identity's /2.  None when x can't use the identity (all
    zeros, inf/nan, or a norm that overflows): the caller then uses the plain product.

    The scaling matters: the identity's rounding error is a few ulps of |w|^2 + |x|^2, and
    post-LayerNorm activations have |x| ~ 30 against |w| ~ 0.5-5.  Multiplying by 2**e is exact.
    """
    norm = math.hypot(*x)  # hypot rescales internally: no overflow or underflow for any finite x
    if not 0.0 < norm < _INF:
        return None
    shift = scale_exp - math.frexp(norm)[1]
    factor = math.ldexp(1.0, shift)
    xs = tuple([v * factor for v in x])
    # |x|^2 computed the way |w - x|^2 is (math.dist against zeros), so a zero column, where
    # |w - x| = |x|, cancels to exactly 0.0.
    length = _dist(xs, (0.0,) * len(xs))
    return xs, length * length, math.ldexp(0.5, -shift)


def _exact_matmul(rows: Sequence[Sequence[float]], weight: ExactWeight) -> list[list[float]]:
    out: list[list[float]] = []
    columns, sq_norms = weight.columns, weight.sq_norms
    for x in rows:
        if len(x) != weight.n_in:
            raise ValueError(f"matmul: row of length {len(x)} against weights with {weight.n_in} inputs")
        scaled = _scaled_row(x, weight.scale_exp) if weight.finite else None
        if scaled is None:
            if weight.finite and not any(x):
                out.append([0.0] * weight.n_out)  # exact, and avoids 0/0 scaling
            else:
                out.append(list(map(dot, repeat(x, weight.n_out), columns)))
            continue
        xs, xx, half = scaled
        # map(dist, ...) runs the n_out calls from C; the comprehension then does 4 float ops per
        # output, ~1% of the time of the dist call that produced it.
        dists = map(_dist, columns, repeat(xs))
        out.append([(n + xx - d * d) * half for n, d in zip(sq_norms, dists)])
    return out


# --- Compact exact weights: float32 storage, unboxed on the fly ----------------------------------
class CompactWeight:
    """Exact weights kept in one flat `array` (typecode 'f': 4 bytes/param, or 'd').

    `views[j]` is a zero-copy memoryview of column j (~200 bytes each, i.e. <0.3 byte/param for
    768-long columns).  `math.dist(view, x)` unboxes the view into a temporary tuple of floats
    inside C, so one token costs the identity plus one float allocation per weight.
    """

    __slots__ = ("flat", "views", "sq_norms", "n_in", "n_out", "scale_exp", "finite")

    def __init__(self, flat: array[float], n_in: int, n_out: int) -> None:
        _check_flat(flat, n_in, n_out)
        self.flat = flat
        self.n_in = n_in
        self.n_out = n_out
        view = memoryview(flat)
        self.views = [view[j * n_in : (j + 1) * n_in] for j in range(n_out)]
        self.sq_norms = _sq_norms(self.views, n_in)
        self.finite = all(map(math.isfinite, self.sq_norms))
        mean_sq = _fsum(self.sq_norms) / n_out if n_out and self.finite else 0.0
        self.scale_exp = math.frexp(math.sqrt(mean_sq))[1] if mean_sq > 0.0 else 0


def prepare_compact(flat: array[float], n_in: int, n_out: int) -> CompactWeight:
    """Low-memory exact weights: keeps `flat` (n_out columns of n_in values back to back) as is."""
    return CompactWeight(flat, n_in, n_out)


def _compact_matmul(rows: Sequence[Sequence[float]], weight: CompactWeight) -> list[list[float]]:
    scaled = []
    for x in rows:
        if len(x) != weight.n_in:
            raise ValueError(f"matmul: row of length {len(x)} against weights with {weight.n_in} inputs")
        scaled.append(_scaled_row(x, weight.scale_exp) if weight.finite else None)
    if len(rows) == 1 and scaled[0] is not None:
        # One token: each column is used once, so unboxing it (one new float per weight, the
        # dominant cost here) can't be shared.  Let C do it: math.sumprod reads the view directly
        # on 3.12+; before that, math.dist converts the view to a temporary tuple.
        if sys.version_info >= (3, 12):
            return [list(map(math.sumprod, weight.views, repeat(rows[0])))]
        else:
            xs, xx, half = scaled[0]
            dists = map(_dist, weight.views, repeat(xs))
            return [[(n + xx - d * d) * half for n, d in zip(weight.sq_norms, dists)]]
    # A block of rows: unbox each column once into a tuple and reuse it for every row.
    by_column: list[list[float]] = []
    for view, n in zip(weight.views, weight.sq_norms):
        column = tuple(view)
        by_column.append(
            [
                (n + s[1] - _dist(column, s[0]) ** 2) * s[2]
                if s is not None
                else (0.0 if weight.finite and not any(x) else dot(x, column))
                for x, s in zip(rows, scaled)
            ]
        )
    return [list(r) for r in zip(*by_column)] if by_column else [[] for _ in rows]


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


class _Chunk:
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
        chunks: list[_Chunk],
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
    _check_flat(flat, n_in, n_out)
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
    _check_flat(flat, n_in, n_out)
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
    chunks: list[_Chunk] = []
    for start in range(0, n_out, chunk):
        stop = min(n_out, start + chunk)
        width = stop - start
        offset = _replicate(lane_bias, bits, width)
        invs = inverses[start:stop]
        rows: list[int] = []
        for k in range(n_in):
            # Input k's weight in each column start..stop-1: a strided slice of the column-major flat.
            scaled = list(map(mul, flat[start * n_in + k : stop * n_in : n_in].tolist(), invs))
            row_max[k] = max(row_max[k], round(max(max(scaled), -min(scaled))))
            lanes = array("d")
            lanes.fromlist(list(map(add, scaled, repeat(magic))))  # fromlist: a quick C loop
            rows.append(int.from_bytes(_narrow(_as_uint64(lanes), field_bytes), "little") - offset)
        chunks.append(_Chunk(start, width, rows, _replicate(1 << (bits - 1), bits, width), scales[start:stop]))
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


def _replicate(value: int, bits: int, count: int) -> int:
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


def _packed_matmul(rows: Sequence[Sequence[float]], weight: PackedWeight) -> list[list[float]]:
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


# --- The prepared-weight product and reads ------------------------------------------------------
Weight = ExactWeight | CompactWeight | PackedWeight


def matmul_weight(rows: Sequence[Sequence[float]], weight: Weight) -> list[list[float]]:
    """out[i][j] = sum_k rows[i][k] * W[k][j] for a prepared weight (a T x n_in block of rows)."""
    if isinstance(weight, ExactWeight):
        return _exact_matmul(rows, weight)
    if isinstance(weight, CompactWeight):
        return _compact_matmul(rows, weight)
    return _packed_matmul(rows, weight)


def weight_column(weight: Weight, j: int) -> list[float]:
    """Output j's weights over the inputs as floats (dequantized for packed weights).

    For the tied GPT-2 embedding: the LM head's column j is token j's embedding row.
    """
    if not 0 <= j < weight.n_out:
        raise IndexError(f"weight_column: {j} out of range for {weight.n_out} outputs")
    if isinstance(weight, ExactWeight):
        return list(weight.columns[j])
    if isinstance(weight, CompactWeight):
        return weight.flat[j * weight.n_in : (j + 1) * weight.n_in].tolist()
    chunk = weight.chunks[j // weight.chunk_size]
    bits = 8 * weight.field_bytes
    shift, mask, half = bits * (j - chunk.start), (1 << bits) - 1, 1 << (bits - 1)
    scale = chunk.scales[j - chunk.start]
    off = chunk.offset
    return [((((r + off) >> shift) & mask) - half) * scale for r in chunk.rows]


def weight_columns(weight: Weight) -> list[list[float]]:
    """All columns as lists of floats (dequantized for packed weights): for rare reads."""
    if isinstance(weight, ExactWeight):
        return [list(c) for c in weight.columns]
    if isinstance(weight, CompactWeight):
        n = weight.n_in
        return [weight.flat[j * n : (j + 1) * n].tolist() for j in range(weight.n_out)]
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


def _check_flat(flat: array[float], n_in: int, n_out: int) -> None:
    if n_in < 1 or n_out < 1 or len(flat) != n_in * n_out:
        raise ValueError(f"expected {n_out} columns of {n_in} values back to back, got {len(flat)} values")
