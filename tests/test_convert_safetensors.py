"""The standard-library safetensors reader (convert/safetensors.py): header checks, streaming,
exact widening, hostile headers.  (The independent writer and reader it is checked against are in
helpers.py.)"""

from __future__ import annotations

import json
import struct
from array import array
from pathlib import Path

import pytest

from helpers import (
    CHECKPOINTS, HOSTILE_JSON, NOT_FILES, POSIX, never_waits, one_line_error, put_not_a_file, read_raw, same_floats,
    widen_independently, write_raw_header, write_safetensors,
)
from potatogpt.convert.safetensors import SafetensorsError, SafetensorsFile


# --- Reading good files -----------------------------------------------------------------------
def test_reads_every_tensor_of_a_real_checkpoint_bit_exactly() -> None:
    path = CHECKPOINTS / "tiny" / "model.safetensors"
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
    # The format forbids it; json.loads would keep the second entry without a word.
    "a tensor named twice": (b'{"wte.weight": %s, "wte.weight": %s}' % (json.dumps(GOOD_ENTRY).encode(),
                             json.dumps({**GOOD_ENTRY, "shape": [1], "data_offsets": [0, 4]}).encode()),
                             bytes(8), "the key 'wte.weight' appears twice"),
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
    blob = (CHECKPOINTS / "tiny" / "model.safetensors").read_bytes()
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


@pytest.mark.parametrize("case", sorted(HOSTILE_JSON))
def test_hostile_json_in_the_header(tmp_path: Path, case: str) -> None:
    value, fragment = HOSTILE_JSON[case]
    header = json.dumps({"x": GOOD_ENTRY}).replace('"shape": [2]', f'"shape": [{value}]')
    write_raw_header(tmp_path / "m.safetensors", header.encode(), bytes(8))
    with pytest.raises(SafetensorsError) as excinfo:
        SafetensorsFile(tmp_path / "m.safetensors")
    one_line_error(excinfo, "m.safetensors", fragment)


# --- Hostile: not a file at all ---------------------------------------------------------------------
@POSIX
@pytest.mark.parametrize("kind", NOT_FILES)
def test_a_safetensors_path_that_is_not_a_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "model.safetensors"
    put_not_a_file(path, kind)
    with never_waits(), pytest.raises(SafetensorsError) as excinfo:
        SafetensorsFile(path)
    one_line_error(excinfo, str(path), "not a .safetensors file")
