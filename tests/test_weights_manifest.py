"""manifest.json (weights/manifest.py), validated completely before anything is read: every field,
every tensor and tokenizer entry, file names, absurd sizes and hostile JSON refused in one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import CHECKPOINTS, HOSTILE_JSON, HUGE, checkpoint_refused, edit_manifest, in_a_subprocess, one_line_error
from potatogpt.convert.export import convert
from potatogpt.weights.catalogue import WeightsError
from potatogpt.weights.checkpoint import open_checkpoint
from potatogpt.weights.manifest import FORMAT_VERSION


# --- Format and JSON --------------------------------------------------------------------------
def test_unknown_format_version_is_refused(folder: Path) -> None:
    edit_manifest(folder, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    checkpoint_refused(folder, f"format version {FORMAT_VERSION + 1}", "re-export")


def test_a_foreign_json_file_is_refused(folder: Path) -> None:
    (folder / "manifest.json").write_text('{"weights": []}')
    checkpoint_refused(folder, "not a potatogpt weights manifest")


@pytest.mark.parametrize("text, fragment", [("{", "not valid JSON"), ("[]", "not a JSON object"), ("", "not valid JSON")])
def test_unreadable_manifests_are_refused(folder: Path, text: str, fragment: str) -> None:
    (folder / "manifest.json").write_text(text)
    checkpoint_refused(folder, fragment)


def test_non_utf8_manifest_is_refused(folder: Path) -> None:
    (folder / "manifest.json").write_bytes(b'{"format": "\xff"}')
    checkpoint_refused(folder, "not UTF-8")


@pytest.mark.parametrize("case", sorted(HOSTILE_JSON))
def test_hostile_json_in_the_manifest(tmp_path: Path, case: str) -> None:
    folder = convert(CHECKPOINTS / "tiny", tmp_path / "tiny")
    text = (folder / "manifest.json").read_text()
    value, fragment = HOSTILE_JSON[case]
    (folder / "manifest.json").write_text(text.replace('"n_layer": 2', f'"n_layer": {value}'))
    with pytest.raises(WeightsError) as excinfo:
        open_checkpoint(folder)
    one_line_error(excinfo, "manifest.json", fragment)


# --- Hyper-parameters -------------------------------------------------------------------------
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
    checkpoint_refused(folder, fragment)


OPEN = """
import sys
from potatogpt.weights.catalogue import WeightsError
from potatogpt.weights.checkpoint import open_checkpoint
try:
    open_checkpoint(sys.argv[1])
except WeightsError as e:
    print(e)
"""


@pytest.mark.parametrize("key", ["n_layer", "n_embd", "vocab_size", "n_ctx"])
def test_a_manifest_claiming_absurd_sizes_is_refused_at_once(tmp_path: Path, key: str) -> None:
    folder = convert(CHECKPOINTS / "tiny", tmp_path / "tiny")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["config"][key] = HUGE if key != "n_embd" else 2**30
    (folder / "manifest.json").write_text(json.dumps(manifest))
    message = in_a_subprocess(OPEN, str(folder)).strip()
    assert message.startswith(str(folder / "manifest.json")) and "\n" not in message, message


# --- Tensor entries ---------------------------------------------------------------------------
def _tensors(manifest: dict[str, object]) -> list[dict[str, object]]:
    tensors = manifest["tensors"]
    assert isinstance(tensors, list)
    return tensors


def test_shapes_inconsistent_with_the_hyper_parameters_are_refused(folder: Path) -> None:
    # Claim a different context length: wpe no longer fits it.
    edit_manifest(folder, _set_config("n_ctx", 64))
    checkpoint_refused(folder, "wpe.weight", "[32, 16]", "[64, 16]")


def test_a_transposed_shape_is_refused(folder: Path) -> None:
    def edit(manifest: dict[str, object]) -> None:
        entry = next(t for t in _tensors(manifest) if t["name"] == "h.0.mlp.c_fc.weight")
        entry["shape"] = [16, 64]
    edit_manifest(folder, edit)
    checkpoint_refused(folder, "h.0.mlp.c_fc.weight", "[16, 64]", "[64, 16]")


def test_missing_and_extra_tensors_are_refused(folder: Path) -> None:
    edit_manifest(folder, lambda m: _tensors(m).pop(3))
    checkpoint_refused(folder, "'h.0.ln_1.bias'", "missing")

    edit_manifest(folder, _set_config("n_layer", 1))  # now layer 1's tensors are extra
    checkpoint_refused(folder, "h.1.", "does not have")


def test_bytes_disagreeing_with_shape_are_refused(folder: Path) -> None:
    edit_manifest(folder, lambda m: _tensors(m)[0].update(bytes=12))
    checkpoint_refused(folder, "'bytes' is 12")


def test_bad_sha256_field_is_refused(folder: Path) -> None:
    edit_manifest(folder, lambda m: _tensors(m)[0].update(sha256="abc"))
    checkpoint_refused(folder, "64 lowercase hex")


def test_duplicate_entries_are_refused(folder: Path) -> None:
    edit_manifest(folder, lambda m: _tensors(m).append(dict(_tensors(m)[0])))
    checkpoint_refused(folder, "listed twice")
    edit_manifest(folder, lambda m: _tensors(m).pop())
    edit_manifest(folder, lambda m: _tensors(m)[1].update(file=_tensors(m)[0]["file"], bytes=_tensors(m)[1]["bytes"]))
    checkpoint_refused(folder, "more than one entry")


@pytest.mark.parametrize("file", ["../tiny/wte.weight.f32", "/etc/passwd", "sub/wte.weight.f32", "..",
                                  "..\\wte.weight.f32", "C:\\wte.weight.f32", "C:wte.weight.f32", ""])
def test_file_names_escaping_the_folder_are_refused(folder: Path, file: str) -> None:
    edit_manifest(folder, lambda m: _tensors(m)[0].update(file=file))
    checkpoint_refused(folder, "outside the weights folder")


def test_a_small_gap_is_still_named_precisely(tmp_path: Path) -> None:
    folder = convert(CHECKPOINTS / "tiny", tmp_path / "tiny")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["tensors"] = [t for t in manifest["tensors"] if t["name"] != "h.1.ln_2.bias"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WeightsError) as excinfo:
        open_checkpoint(folder)
    one_line_error(excinfo, "'h.1.ln_2.bias'", "missing")


# --- Tokenizer entries ------------------------------------------------------------------------
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
