"""Is this Hugging Face checkpoint a GPT-2 we can convert? (convert/hf_checkpoint.py): config.json,
the tensors, the tied head, the tokenizer files; anything else refused in one line before a file is
written."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from helpers import (
    BUNDLED, CHECKPOINTS, HOSTILE_JSON, HUGE, RawTensors, copy_fixture, in_a_subprocess, one_line_error,
    read_raw, write_safetensors,
)
from potatogpt.convert.export import ExportError, convert
from potatogpt.convert.hf_checkpoint import read_hf_config
from potatogpt.weights.checkpoint import open_checkpoint


# --- Tokenizer files --------------------------------------------------------------------------
def test_gpt2_vocabulary_gets_the_bundled_tokenizer(tmp_path: Path) -> None:
    out = convert(CHECKPOINTS / "tiny-vocab", tmp_path / "v")
    for file in ("encoder.json", "vocab.bpe"):
        assert (out / file).read_bytes() == (BUNDLED / file).read_bytes()
    assert open_checkpoint(out, verify_sha256=True).has_tokenizer()


def test_small_vocabularies_get_no_tokenizer(tmp_path: Path) -> None:
    out = convert(CHECKPOINTS / "tiny", tmp_path / "t")
    assert not open_checkpoint(out).has_tokenizer()
    assert not (out / "encoder.json").exists()


def test_the_checkpoints_own_tokenizer_files_are_copied(tmp_path: Path) -> None:
    source = copy_fixture("tiny-vocab", tmp_path / "src")
    shutil.copy(BUNDLED / "encoder.json", source / "vocab.json")
    shutil.copy(BUNDLED / "vocab.bpe", source / "merges.txt")
    out = convert(source, tmp_path / "v")
    assert (out / "vocab.json").read_bytes() == (BUNDLED / "encoder.json").read_bytes()
    assert (out / "merges.txt").is_file() and not (out / "encoder.json").exists()
    assert open_checkpoint(out).has_tokenizer()


def test_a_tokenizer_of_another_vocabulary_size_is_refused(tmp_path: Path) -> None:
    source = copy_fixture("tiny", tmp_path / "src")
    shutil.copy(BUNDLED / "encoder.json", source / "vocab.json")
    shutil.copy(BUNDLED / "vocab.bpe", source / "merges.txt")
    with pytest.raises(ExportError) as excinfo:
        convert(source, tmp_path / "out")
    one_line_error(excinfo, "vocab.json", "50257 tokens", "vocab_size=64")
    assert not (tmp_path / "out").exists()


def test_half_a_tokenizer_is_refused(tmp_path: Path) -> None:
    source = copy_fixture("tiny-vocab", tmp_path / "src")
    shutil.copy(BUNDLED / "vocab.bpe", source / "merges.txt")
    with pytest.raises(ExportError) as excinfo:
        convert(source, tmp_path / "out")
    one_line_error(excinfo, "merges.txt", "without vocab.json")


# --- Refusing what isn't GPT-2: the tensors ---------------------------------------------------
def make_checkpoint(folder: Path, tensors: RawTensors, config_edits: dict[str, object] | None = None,
                    base: str = "tiny-prefixed") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_safetensors(folder / "model.safetensors", tensors)
    config = json.loads((CHECKPOINTS / base / "config.json").read_text())
    for key, value in (config_edits or {}).items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def refused(source: Path, *fragments: str, out: Path | None = None) -> str:
    out = out or source.parent / "out"
    with pytest.raises(ExportError) as excinfo:
        convert(source, out)
    assert not out.exists()
    assert not list(out.parent.glob(f"{out.name}.tmp-*"))
    return one_line_error(excinfo, *fragments)


@pytest.fixture
def prefixed() -> RawTensors:
    return read_raw(CHECKPOINTS / "tiny-prefixed" / "model.safetensors")


def test_a_missing_tensor_is_refused(tmp_path: Path, prefixed: RawTensors) -> None:
    del prefixed["transformer.h.2.mlp.c_proj.bias"]
    refused(make_checkpoint(tmp_path / "c", prefixed), "'h.2.mlp.c_proj.bias'", "missing", "n_layer=3")


def test_an_extra_tensor_is_refused(tmp_path: Path, prefixed: RawTensors) -> None:
    prefixed["transformer.h.0.attn.q_proj.weight"] = ("F32", [1], bytes(4))
    refused(make_checkpoint(tmp_path / "c", prefixed), "unexpected tensor 'transformer.h.0.attn.q_proj.weight'")


def test_a_layer_more_than_config_says_is_refused(tmp_path: Path) -> None:
    source = make_checkpoint(tmp_path / "c", read_raw(CHECKPOINTS / "tiny-prefixed" / "model.safetensors"),
                             {"n_layer": 2})
    refused(source, "unexpected tensor", "h.2.", "n_layer=2")


def test_a_layer_less_than_config_says_is_refused(tmp_path: Path) -> None:
    source = make_checkpoint(tmp_path / "c", read_raw(CHECKPOINTS / "tiny-prefixed" / "model.safetensors"),
                             {"n_layer": 4})
    refused(source, "'h.3.ln_1.weight'", "missing")


def test_shapes_disagreeing_with_config_are_refused(tmp_path: Path, prefixed: RawTensors) -> None:
    refused(make_checkpoint(tmp_path / "a", prefixed, {"n_positions": 64}),
            "transformer.wpe.weight has shape [48, 32]", "[64, 32]")
    refused(make_checkpoint(tmp_path / "b", prefixed, {"vocab_size": 100}), "transformer.wte.weight")


def test_conv1d_stored_the_wrong_way_round_is_refused(tmp_path: Path, prefixed: RawTensors) -> None:
    dtype, shape, raw = prefixed["transformer.h.1.mlp.c_fc.weight"]
    prefixed["transformer.h.1.mlp.c_fc.weight"] = (dtype, shape[::-1], raw)
    refused(make_checkpoint(tmp_path / "c", prefixed), "h.1.mlp.c_fc.weight has shape [128, 32]", "[32, 128]")


def test_non_float_tensors_are_refused(tmp_path: Path, prefixed: RawTensors) -> None:
    _, shape, raw = prefixed["transformer.ln_f.bias"]
    prefixed["transformer.ln_f.bias"] = ("I32", shape, raw)
    refused(make_checkpoint(tmp_path / "c", prefixed), "transformer.ln_f.bias is I32")


def test_an_untied_lm_head_is_refused(tmp_path: Path, prefixed: RawTensors) -> None:
    dtype, shape, raw = prefixed["transformer.wte.weight"]
    prefixed["lm_head.weight"] = (dtype, shape, raw[:-4] + struct.pack("<f", 0.5))
    refused(make_checkpoint(tmp_path / "c", prefixed), "lm_head.weight differs from transformer.wte.weight")


def test_a_tied_lm_head_is_accepted_and_dropped(tmp_path: Path) -> None:
    out = convert(CHECKPOINTS / "tiny-f16", tmp_path / "f16")  # has lm_head.weight
    assert "lm_head.weight.f32" not in {p.name for p in out.iterdir()}


def test_an_lm_head_of_the_wrong_shape_is_refused(tmp_path: Path, prefixed: RawTensors) -> None:
    prefixed["lm_head.weight"] = ("F32", [2, 2], bytes(16))
    refused(make_checkpoint(tmp_path / "c", prefixed), "lm_head.weight has shape [2, 2]")


def test_buffers_beyond_the_last_layer_are_refused(tmp_path: Path) -> None:
    tensors = read_raw(CHECKPOINTS / "tiny" / "model.safetensors")
    tensors["h.5.attn.bias"] = tensors["h.0.attn.bias"]
    refused(make_checkpoint(tmp_path / "c", tensors, base="tiny"), "unexpected tensor 'h.5.attn.bias'")


# --- Refusing what isn't GPT-2: config.json ---------------------------------------------------
@pytest.mark.parametrize("edits, fragment", [
    ({"model_type": "llama"}, "model_type is 'llama'"),
    ({"activation_function": "relu"}, "activation_function is 'relu'"),
    ({"n_inner": 100}, "n_inner is 100"),
    ({"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx"),
    ({"scale_attn_weights": False}, "scale_attn_weights"),
    ({"add_cross_attention": True}, "add_cross_attention"),
    ({"n_layer": None}, "no 'n_layer'"),
    ({"n_embd": "32"}, "n_embd is '32'"),
    ({"n_head": 5}, "not divisible"),
    ({"layer_norm_epsilon": "small"}, "layer_norm_epsilon"),
])
def test_configs_that_are_not_gpt2_are_refused(tmp_path: Path, prefixed: RawTensors, edits: dict[str, object],
                                                fragment: str) -> None:
    refused(make_checkpoint(tmp_path / "c", prefixed, edits), "config.json", fragment)


def test_n_ctx_is_read_when_n_positions_is_absent(tmp_path: Path, prefixed: RawTensors) -> None:
    source = make_checkpoint(tmp_path / "c", prefixed, {"n_positions": None, "n_ctx": 48})
    assert open_checkpoint(convert(source, tmp_path / "out")).config.n_ctx == 48


@pytest.mark.parametrize("text, fragment", [("{", "not valid JSON"), ("[1]", "not a JSON object")])
def test_broken_config_json_is_refused(tmp_path: Path, text: str, fragment: str) -> None:
    source = copy_fixture("tiny", tmp_path / "src")
    (source / "config.json").write_text(text)
    refused(source, "config.json", fragment)


def test_missing_config_json_is_refused(tmp_path: Path) -> None:
    source = copy_fixture("tiny", tmp_path / "src")
    (source / "config.json").unlink()
    refused(source, "config.json", "missing")


def test_config_json_must_describe_the_file(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "model.safetensors").symlink_to(CHECKPOINTS / "tiny" / "model.safetensors")
    config = json.loads((CHECKPOINTS / "tiny" / "config.json").read_text())
    (source / "config.json").write_text(json.dumps({**config, "n_layer": 50}))
    with pytest.raises(ExportError) as excinfo:
        convert(source, tmp_path / "out")
    one_line_error(excinfo, "n_layer=50", "another model")


CONVERT = """
import sys
from potatogpt.convert.export import ExportError, convert
try:
    convert(sys.argv[1], sys.argv[2])
except ExportError as e:
    print(e)
"""


@pytest.mark.parametrize("key", ["n_layer", "n_embd", "vocab_size", "n_positions"])
def test_a_config_json_claiming_absurd_sizes_is_refused_at_once(tmp_path: Path, key: str) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "model.safetensors").symlink_to(CHECKPOINTS / "tiny" / "model.safetensors")
    config = json.loads((CHECKPOINTS / "tiny" / "config.json").read_text())
    config[key] = HUGE if key != "n_embd" else 2**30
    config["n_head"] = 1
    (source / "config.json").write_text(json.dumps(config))
    message = in_a_subprocess(CONVERT, str(source), str(tmp_path / "out")).strip()
    assert "model.safetensors" in message and "another model" in message and "\n" not in message, message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", sorted(HOSTILE_JSON))
def test_hostile_json_in_config_json(tmp_path: Path, case: str) -> None:
    value, fragment = HOSTILE_JSON[case]
    text = (CHECKPOINTS / "tiny" / "config.json").read_text()
    config = json.loads(text)
    key = "layer_norm_epsilon" if "layer_norm_epsilon" in config else "n_embd"
    (tmp_path / "config.json").write_text(json.dumps({**config, key: "HOSTILE_JSON"}).replace('"HOSTILE_JSON"', value))
    with pytest.raises(ExportError) as excinfo:
        read_hf_config(tmp_path / "config.json")
    one_line_error(excinfo, "config.json", fragment)


# --- Finding the checkpoint -------------------------------------------------------------------
def test_damaged_safetensors_is_refused(tmp_path: Path) -> None:
    source = copy_fixture("tiny", tmp_path / "src")
    blob = (source / "model.safetensors").read_bytes()
    (source / "model.safetensors").write_bytes(blob[:5000])
    refused(source, "model.safetensors", "truncated")


@pytest.mark.parametrize("present, fragment", [
    ("model.safetensors.index.json", "sharded"),
    ("pytorch_model.bin", "pytorch_model.bin"),
    (None, "no model.safetensors"),
])
def test_folders_without_a_single_safetensors_file_are_refused(tmp_path: Path, present: str | None,
                                                               fragment: str) -> None:
    source = tmp_path / "src"
    source.mkdir()
    if present:
        (source / present).write_text("{}")
    refused(source, fragment)


def test_a_missing_source_is_refused(tmp_path: Path) -> None:
    refused(tmp_path / "nowhere", "no such file or folder")
