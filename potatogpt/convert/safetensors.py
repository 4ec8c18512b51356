"""Reading Hugging Face's .safetensors files with nothing but the standard library.

The format is simple enough to read by hand:

    8 bytes     N, the header's length, an unsigned little-endian integer
    N bytes     a JSON object: for every tensor its dtype, shape and [begin, end) byte range
                within the data that follows; optionally "__metadata__", a string->string map
    the rest    the tensors' raw bytes, little-endian, row after row

Because the header says where every tensor lives, one tensor can be read (or streamed in
pieces) without touching the others: that is what keeps conversion's memory small.

Only the three float types GPT-2 checkpoints come in are converted: F32, F16 and BF16, each
widened to float32 exactly (every F16 and BF16 value is representable in float32).
"""

from __future__ import annotations

import math
import struct
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ..weights.regular_files import NotARegularFile, irregular, open_for_reading
from ..weights.safe_json import JSONProblem, parse_json

# Bytes per element of every dtype the format defines: parsing checks sizes for all of them,
# even those we cannot convert, so a damaged header is caught whatever it describes.
DTYPE_SIZES: dict[str, int] = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}
FLOAT_DTYPES = ("F32", "F16", "BF16")

# The reference implementation refuses headers over 100 MB; so do we, before allocating one.
MAX_HEADER_BYTES = 100_000_000

# How many elements to convert at a time when streaming: big enough that the per-chunk
# Python overhead vanishes, small enough that the chunk is a rounding error in memory.
DEFAULT_CHUNK = 1 << 20


class SafetensorsError(Exception):
    """A file that is not a valid safetensors file; the message names the file and the problem."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int  # absolute byte offset in the file
    nbytes: int

    @property
    def count(self) -> int:
        return math.prod(self.shape)


def _widen_f32(raw: bytes) -> array[float]:
    values = array("f")
    values.frombytes(raw)
    if sys.byteorder == "big":
        values.byteswap()
    return values


def _widen_f16(raw: bytes) -> array[float]:
    # struct knows IEEE half precision ('e'); array does not, so go through a tuple of floats.
    count = len(raw) // 2
    return array("f", struct.unpack(f"<{count}e", raw))


def _widen_bf16(raw: bytes) -> array[float]:
    # bfloat16 is the top half of a float32: append two zero bytes below each value.  In a
    # little-endian float32 those are bytes 0 and 1, and the bf16 value's two bytes (already
    # little-endian) become bytes 2 and 3.  Strided slice assignment does it without a loop.
    count = len(raw) // 2
    wide = bytearray(4 * count)
    wide[2::4] = raw[0::2]
    wide[3::4] = raw[1::2]
    return _widen_f32(bytes(wide))


_WIDEN = {"F32": _widen_f32, "F16": _widen_f16, "BF16": _widen_bf16}


class SafetensorsFile:
    """An open .safetensors file: its header parsed and checked, its data read on demand.

    Use as a context manager; `tensors` lists every tensor in the header's order.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._file: BinaryIO = open_for_reading(self.path)
        except FileNotFoundError:
            raise SafetensorsError(f"{self.path}: no such file") from None
        except (IsADirectoryError, NotARegularFile):
            what = irregular(self.path) or "a folder"
            raise SafetensorsError(f"{self.path}: is {what}, not a .safetensors file") from None
        except OSError as e:
            raise SafetensorsError(f"{self.path}: cannot be read ({e.strerror})") from None
        try:
            self.tensors, self.metadata = self._parse_header()
        except BaseException:
            self._file.close()
            raise

    def __enter__(self) -> SafetensorsFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def _fail(self, problem: str) -> SafetensorsError:
        return SafetensorsError(f"{self.path}: {problem}; the file is damaged or not a safetensors file "
                                "(download it again)")

    def _parse_header(self) -> tuple[dict[str, TensorInfo], dict[str, str]]:
        self._file.seek(0, 2)
        file_size = self._file.tell()
        self._file.seek(0)
        prefix = self._file.read(8)
        if len(prefix) < 8:
            raise self._fail(f"only {file_size} bytes long, too short for the 8-byte header length")
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > MAX_HEADER_BYTES or 8 + header_len > file_size:
            raise self._fail(f"header length {header_len} is impossible for a {file_size}-byte file")
        header_bytes = self._file.read(header_len)
        try:
            header = parse_json(header_bytes)
        except JSONProblem as e:
            raise self._fail(f"header is {e}") from None
        if not isinstance(header, dict):
            raise self._fail("header is not a JSON object")

        data_start = 8 + header_len
        data_size = file_size - data_start
        metadata: dict[str, str] = {}
        tensors: dict[str, TensorInfo] = {}
        for name, entry in header.items():
            if name == "__metadata__":
                if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                    raise self._fail("__metadata__ is not a map of strings")
                metadata = {str(k): str(v) for k, v in entry.items()}
                continue
            tensors[name] = self._parse_entry(name, entry, data_start, data_size)

        # Ranges may not overlap: a file where two tensors share bytes is malformed.
        spans = sorted((t.start, t.start + t.nbytes, t.name) for t in tensors.values())
        for (_, end, before), (start, _, after) in zip(spans, spans[1:]):
            if start < end:
                raise self._fail(f"tensors {before!r} and {after!r} overlap")
        return tensors, metadata

    def _parse_entry(self, name: str, entry: object, data_start: int, data_size: int) -> TensorInfo:
        if not isinstance(entry, dict):
            raise self._fail(f"entry for {name!r} is not a JSON object")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
            raise self._fail(f"{name!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise self._fail(f"{name!r} has shape {shape!r}, not a list of non-negative whole numbers")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(type(o) is int for o in offsets) or not 0 <= offsets[0] <= offsets[1]):
            raise self._fail(f"{name!r} has data_offsets {offsets!r}, not [begin, end]")
        begin, end = int(offsets[0]), int(offsets[1])
        dims = tuple(int(d) for d in shape)
        if end > data_size:
            raise self._fail(f"{name!r} ends at byte {end} of the data, but there are only {data_size} "
                             "(the file is truncated)")
        if end - begin != DTYPE_SIZES[dtype] * math.prod(dims):
            raise self._fail(f"{name!r} spans {end - begin} bytes but {dtype} {list(dims)} needs "
                             f"{DTYPE_SIZES[dtype] * math.prod(dims)}")
        return TensorInfo(name, dtype, dims, data_start + begin, end - begin)

    def _info(self, name: str) -> TensorInfo:
        info = self.tensors.get(name)
        if info is None:
            raise SafetensorsError(f"{self.path}: has no tensor {name!r}")
        if info.dtype not in _WIDEN:
            raise SafetensorsError(f"{self.path}: {name!r} is {info.dtype}; only {', '.join(FLOAT_DTYPES)} "
                                   "can be converted to float32")
        return info

    def iter_float32(self, name: str, chunk: int = DEFAULT_CHUNK) -> Iterator[array[float]]:
        """The tensor as float32 in pieces of at most `chunk` elements, in storage order."""
        info = self._info(name)
        widen = _WIDEN[info.dtype]
        item = DTYPE_SIZES[info.dtype]
        position, remaining = info.start, info.count
        while remaining:
            n = min(chunk, remaining)
            self._file.seek(position)  # each piece seeks, so two streams may interleave safely
            raw = self._file.read(n * item)
            position += len(raw)
            if len(raw) != n * item:  # the file shrank after we checked its size
                raise self._fail(f"{name!r} is cut short")
            remaining -= n
            yield widen(raw)

    def read_float32(self, name: str) -> array[float]:
        """The whole tensor as one float32 array in native byte order."""
        values = array("f")
        for piece in self.iter_float32(name):
            values.extend(piece)
        return values
