"""The weights-folder loader: what it hands the model, and everything it refuses."""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import sys
from array import array
from collections.abc import Callable
from pathlib import Path

import pytest
from test_safetensors import one_line_error

from potatogpt.config import MODEL_SIZES, GPT2Config
from potatogpt.convert.export import convert
from potatogpt.weights.catalogue import WeightsError, expected_shape, is_plain_file_name, tensor_names
from potatogpt.weights.checkpoint import open_checkpoint
from potatogpt.weights.manifest import FORMAT_VERSION

FIXTURES = Path(__file__).resolve().parent.parent / "checkpoints"
TINY = GPT2Config(n_layer=2, n_head=2, n_embd=16, n_ctx=32, vocab_size=64)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert(FIXTURES / "tiny", tmp_path_factory.mktemp("export") / "tiny")


@pytest.fixture
def folder(exported: Path, tmp_path: Path) -> Path:
    """A private copy of the exported tiny checkpoint, free to damage."""
    return Path(shutil.copytree(exported, tmp_path / "tiny"))


def edit_manifest(folder: Path, edit: Callable[[dict[str, object]], object]) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def refused(folder: Path, *fragments: str, verify_sha256: bool = False) -> str:
    with pytest.raises(WeightsError) as excinfo:
        open_checkpoint(folder, verify_sha256=verify_sha256)
    return one_line_error(excinfo, *fragments)


# --- The names and shapes of a GPT-2 ------------------------------------------------------------
def test_tensor_names_in_file_order() -> None:
    names = tensor_names(TINY)
    assert names[:4] == ["wte.weight", "wpe.weight", "h.0.ln_1.weight", "h.0.ln_1.bias"]
    assert names[-2:] == ["ln_f.weight", "ln_f.bias"]
    assert len(names) == len(set(names)) == 2 + 12 * TINY.n_layer + 2
    assert len(tensor_names(MODEL_SIZES["124M"])) == 148


def test_expected_shapes_are_out_by_in() -> None:
    e = TINY.n_embd
    assert expected_shape("wte.weight", TINY) == (64, e)
    assert expected_shape("wpe.weight", TINY) == (32, e)
    assert expected_shape("h.1.ln_2.bias", TINY) == (e,)
    assert expected_shape("h.0.attn.c_attn.weight", TINY) == (3 * e, e)
    assert expected_shape("h.0.attn.c_attn.bias", TINY) == (3 * e,)
    assert expected_shape("h.0.attn.c_proj.weight", TINY) == (e, e)
    assert expected_shape("h.0.mlp.c_fc.weight", TINY) == (4 * e, e)
    assert expected_shape("h.0.mlp.c_fc.bias", TINY) == (4 * e,)
    assert expected_shape("h.0.mlp.c_proj.weight", TINY) == (e, 4 * e)
    assert expected_shape("ln_f.weight", TINY) == (e,)
    total = sum(math.prod(expected_shape(n, MODEL_SIZES["124M"])) for n in tensor_names(MODEL_SIZES["124M"]))
    assert total == 124_439_808  # GPT-2 small's parameter count, the "124M"


@pytest.mark.parametrize("name", ["lm_head.weight", "h.2.ln_1.weight", "h.01.ln_1.weight", "h.0.attn.bias", "wte"])
def test_unknown_tensor_names_are_refused(name: str) -> None:
    with pytest.raises(WeightsError) as excinfo:
        expected_shape(name, TINY)
    one_line_error(excinfo, repr(name))


# --- Reading ----------------------------------------------------------------------------------
def test_reads_every_tensor_with_its_shape(exported: Path) -> None:
    checkpoint = open_checkpoint(exported, verify_sha256=True)
    assert checkpoint.folder == exported
    assert checkpoint.config == TINY
    assert not checkpoint.has_tokenizer()
    for name in tensor_names(TINY):
        values = checkpoint.read(name)
        assert values.typecode == "f"
        assert checkpoint.shape(name) == expected_shape(name, TINY)
        assert len(values) == math.prod(checkpoint.shape(name))
        raw = (exported / f"{name}.f32").read_bytes()
        assert values.tobytes() == array("f", struct.unpack(f"<{len(values)}f", raw)).tobytes()
    with pytest.raises(WeightsError) as excinfo:
        checkpoint.read("h.7.ln_1.weight")
    one_line_error(excinfo, "h.7.ln_1.weight")


def test_big_endian_hosts_byte_swap(exported: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkpoint = open_checkpoint(exported)
    native = checkpoint.read("ln_f.weight")
    monkeypatch.setattr(sys, "byteorder", "big")
    swapped = checkpoint.read("ln_f.weight")
    monkeypatch.undo()
    swapped.byteswap()
    assert swapped.tobytes() == native.tobytes()


def test_tokenizer_files_are_reported(tmp_path: Path) -> None:
    checkpoint = open_checkpoint(convert(FIXTURES / "tiny-vocab", tmp_path / "v"))
    assert checkpoint.has_tokenizer()
    assert (tmp_path / "v" / "encoder.json").is_file()


def test_a_manifest_entry_for_a_missing_tokenizer_file_is_refused(tmp_path: Path) -> None:
    folder = convert(FIXTURES / "tiny-vocab", tmp_path / "v")
    (folder / "vocab.bpe").unlink()
    refused(folder, "vocab.bpe", "missing")


# --- Refusals: the folder and its files --------------------------------------------------------
def test_missing_folder_names_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    message = refused(Path("weights") / "124M", "python export_weights.py --model 124M`")
    assert "--out" not in message
    refused(tmp_path / "elsewhere" / "355M", "python export_weights.py --model 355M --out")
    refused(tmp_path / "mine", "python export_weights.py --model 124M --out", "mine")


def test_a_file_instead_of_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    refused(tmp_path / "file", "not a weights folder")


def test_missing_manifest_is_refused(folder: Path) -> None:
    (folder / "manifest.json").unlink()
    refused(folder, "manifest.json", "not a finished export")


@pytest.mark.parametrize("how, fragment", [("missing", "missing"), ("truncated", "truncated"),
                                           ("oversized", "too long"), ("emptied", "truncated")])
def test_damaged_tensor_files_are_refused(folder: Path, how: str, fragment: str) -> None:
    path = folder / "h.1.mlp.c_fc.weight.f32"
    data = path.read_bytes()
    if how == "missing":
        path.unlink()
    else:
        path.write_bytes({"truncated": data[:-4], "oversized": data + b"\0\0\0\0", "emptied": b""}[how])
    refused(folder, str(path), fragment, "export_weights.py")


def test_sha256_is_checked_on_request(folder: Path) -> None:
    path = folder / "wpe.weight.f32"
    data = bytearray(path.read_bytes())
    data[5] ^= 0x40  # same size, different bytes
    path.write_bytes(bytes(data))
    open_checkpoint(folder)  # sizes alone can't tell
    refused(folder, str(path), "sha256", verify_sha256=True)


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


# --- Refusals: the manifest -------------------------------------------------------------------
def test_unknown_format_version_is_refused(folder: Path) -> None:
    edit_manifest(folder, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    refused(folder, f"format version {FORMAT_VERSION + 1}", "re-export")


def test_a_foreign_json_file_is_refused(folder: Path) -> None:
    (folder / "manifest.json").write_text('{"weights": []}')
    refused(folder, "not a potatogpt weights manifest")


@pytest.mark.parametrize("text, fragment", [("{", "not valid JSON"), ("[]", "not a JSON object"), ("", "not valid JSON")])
def test_unreadable_manifests_are_refused(folder: Path, text: str, fragment: str) -> None:
    (folder / "manifest.json").write_text(text)
    refused(folder, fragment)


def test_non_utf8_manifest_is_refused(folder: Path) -> None:
    (folder / "manifest.json").write_bytes(b'{"format": "\xff"}')
    refused(folder, "not UTF-8")


def _set_config(key: str, value: object) -> Callable[[dict[str, object]], object]:
    def edit(manifest: dict[str, object]) -> None:
        config = manifest["config"]
        assert isinstance(config, dict)
        if value is None:
            del config[key]
        else:
            config[key] = value
    return edit


@pytest.mark.parametrize("key, value, fragment", [
    ("n_layer", None, "no 'n_layer'"),
    ("n_embd", "16", "not a whole number"),
    ("n_embd", True, "not a whole number"),
    ("n_head", 3, "not divisible"),
    ("n_ctx", 0, "positive"),
    ("layer_norm_epsilon", "tiny", "not a number"),
    ("layer_norm_epsilon", -1.0, "positive"),
])
def test_bad_hyper_parameters_are_refused(folder: Path, key: str, value: object, fragment: str) -> None:
    edit_manifest(folder, _set_config(key, value))
    refused(folder, fragment)


def _tensors(manifest: dict[str, object]) -> list[dict[str, object]]:
    tensors = manifest["tensors"]
    assert isinstance(tensors, list)
    return tensors


def test_shapes_inconsistent_with_the_hyper_parameters_are_refused(folder: Path) -> None:
    # Claim a different context length: wpe no longer fits it.
    edit_manifest(folder, _set_config("n_ctx", 64))
    refused(folder, "wpe.weight", "[32, 16]", "[64, 16]")


def test_a_transposed_shape_is_refused(folder: Path) -> None:
    def edit(manifest: dict[str, object]) -> None:
        entry = next(t for t in _tensors(manifest) if t["name"] == "h.0.mlp.c_fc.weight")
        entry["shape"] = [16, 64]
    edit_manifest(folder, edit)
    refused(folder, "h.0.mlp.c_fc.weight", "[16, 64]", "[64, 16]")


def test_missing_and_extra_tensors_are_refused(folder: Path) -> None:
    edit_manifest(folder, lambda m: _tensors(m).pop(3))
    refused(folder, "'h.0.ln_1.bias'", "missing")

    edit_manifest(folder, _set_config("n_layer", 1))  # now layer 1's tensors are extra
    refused(folder, "h.1.", "does not have")


def test_bytes_disagreeing_with_shape_are_refused(folder: Path) -> None:
    edit_manifest(folder, lambda m: _tensors(m)[0].update(bytes=12))
    refused(folder, "'bytes' is 12")


def test_bad_sha256_field_is_refused(folder: Path) -> None:
    edit_manifest(folder, lambda m: _tensors(m)[0].update(sha256="abc"))
    refused(folder, "64 lowercase hex")


def test_duplicate_entries_are_refused(folder: Path) -> None:
    edit_manifest(folder, lambda m: _tensors(m).append(dict(_tensors(m)[0])))
    refused(folder, "listed twice")
    edit_manifest(folder, lambda m: _tensors(m).pop())
    edit_manifest(folder, lambda m: _tensors(m)[1].update(file=_tensors(m)[0]["file"], bytes=_tensors(m)[1]["bytes"]))
    refused(folder, "more than one entry")


@pytest.mark.parametrize("file", ["../tiny/wte.weight.f32", "/etc/passwd", "sub/wte.weight.f32", "..",
                                  "..\\wte.weight.f32", "C:\\wte.weight.f32", "C:wte.weight.f32", ""])
def test_file_names_escaping_the_folder_are_refused(folder: Path, file: str) -> None:
    edit_manifest(folder, lambda m: _tensors(m)[0].update(file=file))
    refused(folder, "outside the weights folder")


def test_plain_file_names_are_accepted() -> None:
    assert is_plain_file_name("h.0.attn.c_attn.weight.f32")
    assert is_plain_file_name("vocab.json")


@pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform == "win32", reason="needs symlinks")
def test_symlinks_out_of_the_folder_are_refused(folder: Path, tmp_path: Path) -> None:
    target = folder / "wte.weight.f32"
    outside = tmp_path / "outside.f32"
    shutil.move(target, outside)
    target.symlink_to(outside)
    refused(folder, "links outside")
