"""What is read must be what the manifest vouches for: values, tokenizer, sizes, links."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import struct
from array import array
from pathlib import Path

import pytest
from test_safetensors import one_line_error
from test_weights import edit_manifest

from potatogpt.api import Storage, load
from potatogpt.convert.export import convert
from potatogpt.tokenizer import Tokenizer, TokenizerError
from potatogpt.weights.vocab_files import DATA_DIR
from potatogpt.weights.catalogue import WeightsError
from potatogpt.weights.checkpoint import open_checkpoint
from potatogpt.weights.integrity import first_non_finite

FIXTURES = Path(__file__).resolve().parent.parent / "checkpoints"
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


# --- Symlink loops ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["manifest.json", "wte.weight.f32", "h.0.ln_1.bias.f32"])
def test_a_symlink_loop_is_one_line(folder: Path, name: str) -> None:
    (folder / name).unlink()
    (folder / name).symlink_to(folder / name)
    with pytest.raises(WeightsError) as excinfo:
        open_checkpoint(folder)
    one_line_error(excinfo, name, "symbolic links")


def test_a_manifest_that_is_a_pipe_is_refused_without_waiting(folder: Path) -> None:
    (folder / "manifest.json").unlink()
    os.mkfifo(folder / "manifest.json")
    with pytest.raises(WeightsError) as excinfo:
        open_checkpoint(folder)
    one_line_error(excinfo, "manifest.json", "not a regular file")


def test_a_looping_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(WeightsError) as excinfo:
        open_checkpoint(tmp_path / "loop")
    one_line_error(excinfo, "loop")



# --- The tokenizer is the one the manifest lists ----------------------------------------------
HELLO_WORLD = [15496, 995]  # GPT-2's ids for "Hello world", as OpenAI's examples show them


@pytest.fixture
def hf_named(tmp_path: Path) -> Path:
    """An export whose manifest lists Hugging Face's names for the tokenizer: vocab.json + merges.txt."""
    source = tmp_path / "source"
    shutil.copytree(FIXTURES / "tiny-vocab", source)
    shutil.copy(DATA_DIR / "encoder.json", source / "vocab.json")
    shutil.copy(DATA_DIR / "vocab.bpe", source / "merges.txt")
    return convert(source, tmp_path / "out")


def swapped_vocabulary() -> bytes:
    """GPT-2's encoder.json with the ids of 'Hello' and 'Ġworld' swapped: same size, other meaning."""
    encoder = json.loads((DATA_DIR / "encoder.json").read_text(encoding="utf-8"))
    encoder["Hello"], encoder["\u0120world"] = encoder["\u0120world"], encoder["Hello"]
    return json.dumps(encoder).encode()


def test_unlisted_tokenizer_files_are_ignored(hf_named: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "encoder.json").write_bytes(swapped_vocabulary())
    shutil.copy(DATA_DIR / "vocab.bpe", outside / "vocab.bpe")
    (hf_named / "encoder.json").symlink_to(outside / "encoder.json")  # OpenAI's names, tried first by from_dir
    (hf_named / "vocab.bpe").symlink_to(outside / "vocab.bpe")
    assert Tokenizer.from_dir(hf_named).encode("Hello world") == HELLO_WORLD[::-1]  # (what used to win)
    model = load(hf_named)
    assert model.tokenizer.encode("Hello world") == HELLO_WORLD


def test_a_listed_tokenizer_file_must_be_the_one_listed(hf_named: Path) -> None:
    forged = swapped_vocabulary()
    # Same size as the listed file, so only the sha256 can tell: pad or cut the forgery to fit.
    size = (hf_named / "vocab.json").stat().st_size
    forged = forged[:size] if len(forged) >= size else forged[:-1] + b" " * (size - len(forged)) + forged[-1:]
    (hf_named / "vocab.json").write_bytes(forged)
    with pytest.raises(WeightsError) as excinfo:
        load(hf_named)
    one_line_error(excinfo, "vocab.json", "is not the file the manifest lists", "sha256")


def test_a_manifest_listing_other_tokenizer_files_is_refused(hf_named: Path) -> None:
    def rename(manifest: dict[str, object]) -> None:
        entries = manifest["tokenizer"]
        assert isinstance(entries, list)
        entries[0]["file"] = "tokenizer.json"

    (hf_named / "tokenizer.json").write_bytes((hf_named / "vocab.json").read_bytes())
    edit_manifest(hf_named, rename)
    with pytest.raises(WeightsError) as excinfo:
        open_checkpoint(hf_named)
    one_line_error(excinfo, "tokenizer.json", "not one of the pairs")


# --- Vocabulary sizes -------------------------------------------------------------------------
def add_tokenizer(folder: Path) -> None:
    """List GPT-2's tokenizer in a folder whose model has another vocabulary size."""
    entries = []
    for name in ("encoder.json", "vocab.bpe"):
        data = (DATA_DIR / name).read_bytes()
        (folder / name).write_bytes(data)
        entries.append({"file": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    edit_manifest(folder, lambda manifest: manifest.update(tokenizer=entries))


def set_vocab_size(folder: Path, vocab_size: int) -> None:
    """Give the model `vocab_size` embedding rows (zeros), as nanoGPT's padded checkpoints have."""
    manifest = json.loads((folder / "manifest.json").read_text())
    n_embd = manifest["config"]["n_embd"]
    data = bytes(4 * vocab_size * n_embd)
    (folder / "wte.weight.f32").write_bytes(data)
    manifest["config"]["vocab_size"] = vocab_size
    wte = next(t for t in manifest["tensors"] if t["name"] == "wte.weight")
    wte.update(shape=[vocab_size, n_embd], bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_model_and_its_own_tokenizer_must_agree(folder: Path) -> None:
    add_tokenizer(folder)  # 50257 tokens for a 64-row model
    with pytest.raises(WeightsError) as excinfo:
        load(folder)
    one_line_error(excinfo, str(folder), "64 token rows", "50257 tokens")


def test_a_padded_vocabulary_is_refused_at_load(folder: Path) -> None:
    set_vocab_size(folder, 50304)  # no tokenizer of its own: GPT-2's would be used
    with pytest.raises(WeightsError) as excinfo:
        load(folder)
    one_line_error(excinfo, "50304 token rows", "50257 tokens")


def test_a_tiny_model_without_a_tokenizer_still_loads(folder: Path) -> None:
    assert load(folder).tokenizer.vocab_size == 50257


# --- merges files -----------------------------------------------------------------------------
@pytest.mark.parametrize("line_end", [b"\r", b"\r\n", b"\n"])
def test_merges_with_any_line_end_read_the_same(tmp_path: Path, line_end: bytes) -> None:
    shutil.copy(DATA_DIR / "encoder.json", tmp_path / "encoder.json")
    merges = (DATA_DIR / "vocab.bpe").read_bytes()
    assert b"\r" not in merges
    (tmp_path / "vocab.bpe").write_bytes(merges.replace(b"\n", line_end))
    tokenizer = Tokenizer.from_dir(tmp_path)
    assert tokenizer.encode("Hello world") == HELLO_WORLD
    assert tokenizer.encode(" the quick brown fox") == [262, 2068, 7586, 21831]


def test_a_merges_file_without_merges_is_refused(tmp_path: Path) -> None:
    shutil.copy(DATA_DIR / "encoder.json", tmp_path / "encoder.json")
    (tmp_path / "vocab.bpe").write_bytes(b"#version: 0.2\n")
    with pytest.raises(TokenizerError) as excinfo:
        Tokenizer.from_dir(tmp_path)
    one_line_error(excinfo, str(tmp_path), "no merges")
