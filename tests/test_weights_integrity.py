"""Is each file what the manifest says it is? (weights/integrity.py): sizes, sha256 sums, links
that loop or lead out of the folder, NaN and infinity."""

from __future__ import annotations

import math
import os
import shutil
import struct
import sys
from array import array
from pathlib import Path

import pytest

from helpers import checkpoint_refused, one_line_error
from potatogpt.api import Storage, load
from potatogpt.weights.catalogue import WeightsError
from potatogpt.weights.checkpoint import open_checkpoint
from potatogpt.weights.integrity import first_non_finite


# --- Sizes and sha256 sums --------------------------------------------------------------------
@pytest.mark.parametrize("how, fragment", [("missing", "missing"), ("truncated", "truncated"),
                                           ("oversized", "too long"), ("emptied", "truncated")])
def test_damaged_tensor_files_are_refused(folder: Path, how: str, fragment: str) -> None:
    path = folder / "h.1.mlp.c_fc.weight.f32"
    data = path.read_bytes()
    if how == "missing":
        path.unlink()
    else:
        path.write_bytes({"truncated": data[:-4], "oversized": data + b"\0\0\0\0", "emptied": b""}[how])
    checkpoint_refused(folder, str(path), fragment, "export_weights.py")


def test_sha256_is_checked_on_request(folder: Path) -> None:
    path = folder / "wpe.weight.f32"
    data = bytearray(path.read_bytes())
    data[5] ^= 0x40  # same size, different bytes
    path.write_bytes(bytes(data))
    open_checkpoint(folder)  # sizes alone can't tell
    checkpoint_refused(folder, str(path), "sha256", verify_sha256=True)


# --- Links ------------------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform == "win32", reason="needs symlinks")
def test_symlinks_out_of_the_folder_are_refused(folder: Path, tmp_path: Path) -> None:
    target = folder / "wte.weight.f32"
    outside = tmp_path / "outside.f32"
    shutil.move(target, outside)
    target.symlink_to(outside)
    checkpoint_refused(folder, "links outside")


@pytest.mark.parametrize("name", ["manifest.json", "wte.weight.f32", "h.0.ln_1.bias.f32"])
def test_a_symlink_loop_is_one_line(folder: Path, name: str) -> None:
    (folder / name).unlink()
    (folder / name).symlink_to(folder / name)
    with pytest.raises(WeightsError) as excinfo:
        open_checkpoint(folder)
    one_line_error(excinfo, name, "symbolic links")


# --- NaN and infinity -------------------------------------------------------------------------
STORAGES: list[Storage] = ["exact", "packed", "compact"]


def floats(*values: float) -> array[float]:
    return array("f", struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def float_from_bits(bits: int) -> float:
    value: float = struct.unpack("<f", struct.pack("<I", bits))[0]
    return value


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


@pytest.mark.parametrize(("storage", "jobs"), [(s, j) for s in STORAGES for j in (1, 2)] + [("reference", 1)])
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
