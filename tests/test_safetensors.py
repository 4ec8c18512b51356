"""The standard-library safetensors reader: header checks, streaming, and exact widening.

`write_safetensors` and `read_raw` are also used by test_export.py and test_weights.py to build
checkpoints (good and broken) without any third-party library.
"""

from __future__ import annotations

import json
import math
import struct
from array import array
from pathlib import Path

import pytest

from potatogpt.convert.safetensors import SafetensorsError, SafetensorsFile

FIXTURES = Path(__file__).resolve().parent.parent / "checkpoints"

# name -> (dtype, shape, raw little-endian bytes)
RawTensors = dict[str, tuple[str, list[int], bytes]]


def write_safetensors(path: Path, tensors: RawTensors, *, metadata: dict[str, str] | None = None) -> Path:
    """A minimal safetensors writer: header with offsets, padded to 8 bytes, then the data."""
    header: dict[str, object] = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    write_raw_header(path, json.dumps(header).encode(), b"".join(raw for _, _, raw in tensors.values()))
    return path


def write_raw_header(path: Path, header: bytes, data: bytes) -> None:
    header += b" " * (-len(header) % 8)
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)


def read_raw(path: Path) -> RawTensors:
    """The tensors of a safetensors file, parsed independently of potatogpt."""
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    header.pop("__metadata__", None)
    return {name: (e["dtype"], e["shape"], blob[8 + n + e["data_offsets"][0]:8 + n + e["data_offsets"][1]])
            for name, e in header.items()}


def f16_by_hand(bits: int) -> float:
    """IEEE half precision decoded from its fields, independently of struct's 'e' format."""
    sign = -1.0 if bits >> 15 else 1.0
    exponent, fraction = (bits >> 10) & 0x1F, bits & 0x3FF
    if exponent == 0:
        return sign * fraction * 2.0**-24  # subnormal (and zero)
    if exponent == 0x1F:
        return sign * math.inf if fraction == 0 else math.nan
    return sign * (1 + fraction / 1024) * 2.0 ** (exponent - 15)


def widen_independently(dtype: str, raw: bytes) -> list[float]:
    """float32 values of raw tensor bytes, computed without potatogpt."""
    if dtype == "F32":
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    halves = struct.unpack(f"<{len(raw) // 2}H", raw)
    if dtype == "F16":
        return [f16_by_hand(h) for h in halves]
    if dtype == "BF16":  # the top 16 bits of a float32
        return [struct.unpack("<f", struct.pack("<I", h << 16))[0] for h in halves]
    raise ValueError(dtype)


def same_floats(a: list[float], b: list[float]) -> bool:
    """Bit-for-bit equality as float32, NaNs included."""
    return len(a) == len(b) and all(struct.pack("<f", x) == struct.pack("<f", y) or (math.isnan(x) and math.isnan(y))
                                    for x, y in zip(a, b))


def one_line_error(excinfo: pytest.ExceptionInfo[BaseException], *fragments: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


# --- Reading good files -----------------------------------------------------------------------
def test_reads_every_tensor_of_a_real_checkpoint_bit_exactly() -> None:
    path = FIXTURES / "tiny" / "model.safetensors"
    expected = read_raw(path)
    with SafetensorsFile(path) as st:
        assert set(st.tensors) == set(expected)
        for name, (dtype, shape, raw) in expected.items():
            info = st.tensors[name]
            assert (info.dtype, list(info.shape)) == (dtype, shape)
            if dtype == "F32":
                assert st.read_float32(name).tobytes() == array("f", widen_independently("F32", raw)).tobytes()


@pytest.mark.parametrize("dtype", ["F16", "BF16"])
def test_every_16_bit_pattern_widens_exactly(tmp_path: Path, dtype: str) -> None:
    raw = struct.pack("<65536H", *range(65536))
    path = write_safetensors(tmp_path / "all.safetensors", {"x": (dtype, [256, 256], raw)})
    with SafetensorsFile(path) as st:
        got = list(st.read_float32("x"))
    assert same_floats(got, widen_independently(dtype, raw))


def test_streaming_in_pieces_matches_reading_whole(tmp_path: Path) -> None:
    values = [i / 7 for i in range(1000)]
    path = write_safetensors(tmp_path / "a.safetensors", {
        "a": ("F32", [10, 100], struct.pack("<1000f", *values)),
        "b": ("F16", [1000], struct.pack("<1000e", *values)),
    })
    with SafetensorsFile(path) as st:
        for name in ("a", "b"):
            pieces = list(st.iter_float32(name, chunk=333))
            assert [len(p) for p in pieces] == [333, 333, 333, 1]
            assert [x for p in pieces for x in p] == list(st.read_float32(name))
        # Interleaved streams must not disturb each other (each piece seeks).
        both = list(zip(st.iter_float32("a", chunk=100), st.iter_float32("b", chunk=100)))
        assert len(both) == 10


def test_metadata_zero_dim_and_empty_tensors(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "m.safetensors", {
        "scalar": ("F32", [], struct.pack("<f", -1e4)),
        "empty": ("F32", [0, 5], b""),
        "mask": ("BOOL", [1, 1, 2, 2], bytes([1, 0, 1, 1])),
    }, metadata={"format": "pt"})
    with SafetensorsFile(path) as st:
        assert st.metadata == {"format": "pt"}
        assert st.tensors["scalar"].count == 1 and list(st.read_float32("scalar")) == [-1e4]
        assert list(st.read_float32("empty")) == []
        assert st.tensors["mask"].dtype == "BOOL"


def test_non_float_tensors_parse_but_do_not_convert(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "i.safetensors", {"ids": ("I64", [2], struct.pack("<2q", 1, 2))})
    with SafetensorsFile(path) as st:
        with pytest.raises(SafetensorsError) as excinfo:
            st.read_float32("ids")
        one_line_error(excinfo, "I64", "F32, F16, BF16")
        with pytest.raises(SafetensorsError) as excinfo:
            st.read_float32("nope")
        one_line_error(excinfo, "no tensor 'nope'")


# --- Refusing bad files -----------------------------------------------------------------------
GOOD_ENTRY = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


def header_case(header: object, data: bytes = bytes(8)) -> tuple[bytes, bytes]:
    return json.dumps(header).encode(), data


BAD_HEADERS: dict[str, tuple[bytes, bytes, str]] = {
    "not json": (b"{nope", bytes(8), "not valid JSON"),
    "not utf-8": (b'{"\xff": 1}', bytes(8), "not valid JSON"),
    "a list": (*header_case([1, 2]), "not a JSON object"),
    "entry not object": (*header_case({"x": 3}), "not a JSON object"),
    "unknown dtype": (*header_case({"x": {**GOOD_ENTRY, "dtype": "F12"}}), "unknown dtype"),
    "missing dtype": (*header_case({"x": {"shape": [2], "data_offsets": [0, 8]}}), "unknown dtype"),
    "negative dim": (*header_case({"x": {**GOOD_ENTRY, "shape": [-2]}}), "shape"),
    "float dim": (*header_case({"x": {**GOOD_ENTRY, "shape": [2.0]}}), "shape"),
    "offsets reversed": (*header_case({"x": {**GOOD_ENTRY, "data_offsets": [8, 0]}}), "data_offsets"),
    "offsets missing": (*header_case({"x": {"dtype": "F32", "shape": [2]}}), "data_offsets"),
    "size disagrees with shape": (*header_case({"x": {**GOOD_ENTRY, "shape": [3]}}), "needs 12"),
    "past the end": (*header_case({"x": {**GOOD_ENTRY, "shape": [4], "data_offsets": [0, 16]}}), "truncated"),
    "overlap": (*header_case({"x": GOOD_ENTRY, "y": {**GOOD_ENTRY, "shape": [1], "data_offsets": [4, 8]}}),
                "overlap"),
    "metadata not strings": (*header_case({"__metadata__": {"a": 1}, "x": GOOD_ENTRY}), "__metadata__"),
}


@pytest.mark.parametrize("case", sorted(BAD_HEADERS))
def test_bad_headers_are_refused_in_one_line(tmp_path: Path, case: str) -> None:
    header, data, fragment = BAD_HEADERS[case]
    path = tmp_path / "bad.safetensors"
    write_raw_header(path, header, data)
    with pytest.raises(SafetensorsError) as excinfo:
        SafetensorsFile(path)
    one_line_error(excinfo, str(path), fragment)


@pytest.mark.parametrize("blob, fragment", [
    (b"", "too short"),
    (b"\x01\x02\x03", "too short"),
    (struct.pack("<Q", 1 << 40) + b"{}", "impossible"),
    (struct.pack("<Q", 100) + b"{}", "impossible"),
])
def test_bad_length_prefix_is_refused(tmp_path: Path, blob: bytes, fragment: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(blob)
    with pytest.raises(SafetensorsError) as excinfo:
        SafetensorsFile(path)
    one_line_error(excinfo, str(path), fragment)


def test_a_truncated_checkpoint_is_refused(tmp_path: Path) -> None:
    blob = (FIXTURES / "tiny" / "model.safetensors").read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(blob[: len(blob) - 100])
    with pytest.raises(SafetensorsError) as excinfo:
        SafetensorsFile(path)
    one_line_error(excinfo, "truncated")


def test_missing_file_and_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SafetensorsError) as excinfo:
        SafetensorsFile(tmp_path / "absent.safetensors")
    one_line_error(excinfo, "no such file")
    with pytest.raises(SafetensorsError) as excinfo:
        SafetensorsFile(tmp_path)
    one_line_error(excinfo, "folder")
