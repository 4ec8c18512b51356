"""open_checkpoint(folder) (weights/checkpoint.py): what it hands the model, the tokenizer the
manifest lists, and the folders and files it refuses."""

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

from helpers import (
    BUNDLED,
    CHECKPOINTS,
    HELLO_WORLD,
    NOT_FILES,
    POSIX,
    TINY_CONFIG,
    Exported,
    checkpoint_refused,
    edit_manifest,
    never_waits,
    one_line_error,
    put_not_a_file,
    reference_config,
)
from potatogpt.api import load
from potatogpt.convert.export import convert
from potatogpt.tokenizer import Tokenizer
from potatogpt.weights.catalogue import WeightsError, expected_shape, tensor_names
from potatogpt.weights.checkpoint import open_checkpoint


# --- Reading ----------------------------------------------------------------------------------
def test_reads_every_tensor_with_its_shape(tiny_export: Path) -> None:
    checkpoint = open_checkpoint(tiny_export, verify_sha256=True)
    assert checkpoint.folder == tiny_export
    assert checkpoint.config == TINY_CONFIG
    assert not checkpoint.has_tokenizer()
    for name in tensor_names(TINY_CONFIG):
        values = checkpoint.read(name)
        assert values.typecode == "f"
        assert checkpoint.shape(name) == expected_shape(name, TINY_CONFIG)
        assert len(values) == math.prod(checkpoint.shape(name))
        raw = (tiny_export / f"{name}.f32").read_bytes()
        assert values.tobytes() == array("f", struct.unpack(f"<{len(values)}f", raw)).tobytes()
    with pytest.raises(WeightsError) as excinfo:
        checkpoint.read("h.7.ln_1.weight")
    one_line_error(excinfo, "h.7.ln_1.weight")


def test_tokenizer_files_are_reported(tmp_path: Path) -> None:
    checkpoint = open_checkpoint(convert(CHECKPOINTS / "tiny-vocab", tmp_path / "v"))
    assert checkpoint.has_tokenizer()
    assert (tmp_path / "v" / "encoder.json").is_file()


def test_a_manifest_entry_for_a_missing_tokenizer_file_is_refused(tmp_path: Path) -> None:
    folder = convert(CHECKPOINTS / "tiny-vocab", tmp_path / "v")
    (folder / "vocab.bpe").unlink()
    checkpoint_refused(folder, "vocab.bpe", "missing")


# --- The folder and its manifest --------------------------------------------------------------
def test_missing_folder_names_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    message = checkpoint_refused(Path("weights") / "124M", "python export_weights.py --model 124M`")
    assert "--out" not in message
    checkpoint_refused(tmp_path / "elsewhere" / "355M", "python export_weights.py --model 355M --out")
    checkpoint_refused(tmp_path / "mine", "python export_weights.py --model 124M --out", "mine")


def test_a_file_instead_of_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    checkpoint_refused(tmp_path / "file", "not a weights folder")


def test_missing_manifest_is_refused(folder: Path) -> None:
    (folder / "manifest.json").unlink()
    checkpoint_refused(folder, "manifest.json", "not a finished export")


def test_files_changed_after_opening_are_caught_on_read(folder: Path) -> None:
    checkpoint = open_checkpoint(folder)
    path = folder / "wte.weight.f32"
    data = path.read_bytes()
    path.write_bytes(data[:-1])
    with pytest.raises(WeightsError) as excinfo:
        checkpoint.read("wte.weight")
    one_line_error(excinfo, "truncated")
    path.write_bytes(data + b"x")
    with pytest.raises(WeightsError) as excinfo:
        checkpoint.read("wte.weight")
    one_line_error(excinfo, "too long")
    path.unlink()
    with pytest.raises(WeightsError) as excinfo:
        checkpoint.read("wte.weight")
    one_line_error(excinfo, "missing")


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
def swapped_vocabulary() -> bytes:
    """GPT-2's encoder.json with the ids of 'Hello' and 'Ġworld' swapped: same size, other meaning."""
    encoder = json.loads((BUNDLED / "encoder.json").read_text(encoding="utf-8"))
    encoder["Hello"], encoder["\u0120world"] = encoder["\u0120world"], encoder["Hello"]
    return json.dumps(encoder).encode()


def test_unlisted_tokenizer_files_are_ignored(hf_named: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "encoder.json").write_bytes(swapped_vocabulary())
    shutil.copy(BUNDLED / "vocab.bpe", outside / "vocab.bpe")
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


# --- Vocabulary sizes -------------------------------------------------------------------------
def add_tokenizer(folder: Path) -> None:
    """List GPT-2's tokenizer in a folder whose model has another vocabulary size."""
    entries = []
    for name in ("encoder.json", "vocab.bpe"):
        data = (BUNDLED / name).read_bytes()
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


# --- Hostile: a pipe, a folder or a device where a file belongs ------------------------------------
def every_file_read(folder: Path) -> list[str]:
    """The names of every file loading `folder` reads: the manifest, each tensor, the tokenizer."""
    manifest = json.loads((folder / "manifest.json").read_text())
    return ["manifest.json", *(t["file"] for t in manifest["tensors"]), *(t["file"] for t in manifest["tokenizer"])]


@POSIX
def test_a_pipe_in_place_of_any_file_is_refused_not_waited_on(exported: Exported, tmp_path: Path) -> None:
    """A FIFO nobody writes to, in place of each file in turn: a plain open() would wait forever."""
    source = exported.folder("tiny-vocab")
    names = every_file_read(source)
    assert len(names) == 1 + len(tensor_names(reference_config("tiny-vocab"))) + 2
    for name in names:
        folder = tmp_path / name
        shutil.copytree(source, folder)
        put_not_a_file(folder / name)
        with never_waits(), pytest.raises(WeightsError) as excinfo:
            load(folder)
        one_line_error(excinfo, f"{folder / name}", "named pipe (FIFO)", "not a regular file")


@POSIX
@pytest.mark.parametrize("kind", NOT_FILES)
@pytest.mark.parametrize("name", ["manifest.json", "wte.weight.f32", "encoder.json"])
def test_what_is_not_a_file_is_refused_in_one_line(exported: Exported, tmp_path: Path, kind: str, name: str) -> None:
    folder = tmp_path / "w"
    shutil.copytree(exported.folder("tiny-vocab"), folder)
    put_not_a_file(folder / name, kind)
    with never_waits(), pytest.raises(WeightsError) as excinfo:
        load(folder)
    message = one_line_error(excinfo, str(folder / name))
    # (The device is a link to /dev/zero: for a listed file, leaving the folder is refused first.)
    assert "not a regular file" in message or (kind == "a device" and "links outside the weights folder" in message)
