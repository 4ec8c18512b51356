"""What is read must be what the manifest vouches for: values, tokenizer, sizes, links."""

from __future__ import annotations

import json
import math
import shutil
import struct
from array import array
from pathlib import Path

import pytest
from test_safetensors import one_line_error

from potatogpt.api import load
from potatogpt.convert.export import convert
from potatogpt.tensor import Storage
from potatogpt.weights import WeightsError, first_non_finite, open_checkpoint

FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints"
STORAGES: list[Storage] = ["exact", "packed", "compact"]


def floats(*values: float) -> array[float]:
    return array("f", struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def float_from_bits(bits: int) -> float:
    value: float = struct.unpack("<f", struct.pack("<I", bits))[0]
    return value


# --- NaN and infinity -------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 0xFFFFFFFF, 0x7FBFFFFF])
@pytest.mark.parametrize("where", [0, 1, 65_535, 65_536, 200_000])
def test_every_nan_and_infinity_is_found_wherever_it_is(bits: int, where: int) -> None:
    values = floats(*([0.5] * 200_001))
    values[where] = float_from_bits(bits)
    assert not math.isfinite(values[where])
    assert first_non_finite(values) == where


@pytest.mark.parametrize("value", [3.4028234663852886e38, -3.4028234663852886e38, 1.7e38, 1e-45, -0.0, 0.0])
def test_extreme_finite_values_are_accepted(value: float) -> None:
    values = floats(*([value] * 70_000))
    assert first_non_finite(values) is None


def test_the_first_of_several_is_reported() -> None:
    values = floats(*([3.0e38] * 100_000))
    values[70_001] = math.inf
    values[99_000] = math.nan
    assert first_non_finite(values) == 70_001


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return convert(FIXTURES / "tiny", tmp_path / "tiny")


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("tensor, bits", [("wte.weight", 0x7FC00000), ("h.1.mlp.c_fc.weight", 0xFF800000),
                                          ("ln_f.bias", 0x7F800000)])
def test_weights_with_nan_or_infinity_are_refused_at_load(folder: Path, storage: Storage, jobs: int,
                                                          tensor: str, bits: int) -> None:
    path = folder / f"{tensor}.f32"
    data = bytearray(path.read_bytes())
    data[12:16] = struct.pack("<I", bits)  # the fourth value; the size stays what the manifest says
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError) as excinfo:
        load(folder, storage=storage, jobs=jobs).close()
    one_line_error(excinfo, str(path), "value 3 is")


# --- Symlink loops ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["manifest.json", "wte.weight.f32", "h.0.ln_1.bias.f32"])
def test_a_symlink_loop_is_one_line(folder: Path, name: str) -> None:
    (folder / name).unlink()
    (folder / name).symlink_to(folder / name)
    with pytest.raises(WeightsError) as excinfo:
        open_checkpoint(folder)
    one_line_error(excinfo, name, "symbolic links")


def test_a_looping_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(WeightsError) as excinfo:
        open_checkpoint(tmp_path / "loop")
    one_line_error(excinfo, "loop")


def _unused_json_and_shutil() -> tuple[object, object]:
    return json, shutil
