"""Converting Hugging Face checkpoints: exact tensors, the refusals, atomic writes, the CLI."""

from __future__ import annotations

import errno
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_safetensors import RawTensors, one_line_error, read_raw, same_floats, widen_independently, write_safetensors

from potatogpt.convert import export
from potatogpt.config import GPT2Config
from potatogpt.convert.export import ExportError, convert
from potatogpt.weights.catalogue import tensor_names
from potatogpt.weights.checkpoint import open_checkpoint

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "checkpoints"
BUNDLED = ROOT / "potatogpt" / "data"
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def reference_config(name: str) -> GPT2Config:
    reference = json.loads((FIXTURES / name / "reference.json").read_text())
    return GPT2Config(**reference["config"])


# --- Exact conversion -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tiny", "tiny-prefixed", "tiny-f16", "tiny-bf16", "tiny-vocab"])
def test_fixture_checkpoints_convert_exactly(tmp_path: Path, name: str) -> None:
    out = convert(FIXTURES / name, tmp_path / name)
    checkpoint = open_checkpoint(out, verify_sha256=True)
    config = reference_config(name)
    assert checkpoint.config == config
    source = read_raw(FIXTURES / name / "model.safetensors")
    for tensor in tensor_names(config):
        dtype, shape, raw = source.get(tensor) or source[f"transformer.{tensor}"]
        expected = widen_independently(dtype, raw)
        if tensor.endswith(CONV1D):  # [in, out] -> [out, in], by hand
            n_in, n_out = shape
            expected = [expected[i * n_out + j] for j in range(n_out) for i in range(n_in)]
            shape = [n_out, n_in]
        assert list(checkpoint.shape(tensor)) == shape
        assert same_floats(list(checkpoint.read(tensor)), expected), tensor
    assert not list(tmp_path.glob("*.tmp-*"))


def test_the_manifest_is_written_last_and_lists_files_in_order(tmp_path: Path) -> None:
    out = convert(FIXTURES / "tiny", tmp_path / "tiny")
    manifest = json.loads((out / "manifest.json").read_text())
    assert [t["name"] for t in manifest["tensors"]] == tensor_names(reference_config("tiny"))
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert max(mtimes.values()) == mtimes["manifest.json"]
    assert sorted(mtimes) == sorted(["manifest.json"] + [t["file"] for t in manifest["tensors"]])


def test_the_safetensors_file_itself_can_be_given(tmp_path: Path) -> None:
    out = convert(FIXTURES / "tiny-prefixed" / "model.safetensors", tmp_path / "p")
    assert open_checkpoint(out).config == reference_config("tiny-prefixed")


# --- Tokenizer files --------------------------------------------------------------------------
def test_gpt2_vocabulary_gets_the_bundled_tokenizer(tmp_path: Path) -> None:
    out = convert(FIXTURES / "tiny-vocab", tmp_path / "v")
    for file in ("encoder.json", "vocab.bpe"):
        assert (out / file).read_bytes() == (BUNDLED / file).read_bytes()
    assert open_checkpoint(out, verify_sha256=True).has_tokenizer()


def test_small_vocabularies_get_no_tokenizer(tmp_path: Path) -> None:
    out = convert(FIXTURES / "tiny", tmp_path / "t")
    assert not open_checkpoint(out).has_tokenizer()
    assert not (out / "encoder.json").exists()


def copy_fixture(name: str, folder: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / name, folder))


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


# --- Refusing what isn't GPT-2 ----------------------------------------------------------------
def make_checkpoint(folder: Path, tensors: RawTensors, config_edits: dict[str, object] | None = None,
                    base: str = "tiny-prefixed") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_safetensors(folder / "model.safetensors", tensors)
    config = json.loads((FIXTURES / base / "config.json").read_text())
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
    return read_raw(FIXTURES / "tiny-prefixed" / "model.safetensors")


def test_a_missing_tensor_is_refused(tmp_path: Path, prefixed: RawTensors) -> None:
    del prefixed["transformer.h.2.mlp.c_proj.bias"]
    refused(make_checkpoint(tmp_path / "c", prefixed), "'h.2.mlp.c_proj.bias'", "missing", "n_layer=3")


def test_an_extra_tensor_is_refused(tmp_path: Path, prefixed: RawTensors) -> None:
    prefixed["transformer.h.0.attn.q_proj.weight"] = ("F32", [1], bytes(4))
    refused(make_checkpoint(tmp_path / "c", prefixed), "unexpected tensor 'transformer.h.0.attn.q_proj.weight'")


def test_a_layer_more_than_config_says_is_refused(tmp_path: Path) -> None:
    source = make_checkpoint(tmp_path / "c", read_raw(FIXTURES / "tiny-prefixed" / "model.safetensors"),
                             {"n_layer": 2})
    refused(source, "unexpected tensor", "h.2.", "n_layer=2")


def test_a_layer_less_than_config_says_is_refused(tmp_path: Path) -> None:
    source = make_checkpoint(tmp_path / "c", read_raw(FIXTURES / "tiny-prefixed" / "model.safetensors"),
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
    out = convert(FIXTURES / "tiny-f16", tmp_path / "f16")  # has lm_head.weight
    assert "lm_head.weight.f32" not in {p.name for p in out.iterdir()}


def test_an_lm_head_of_the_wrong_shape_is_refused(tmp_path: Path, prefixed: RawTensors) -> None:
    prefixed["lm_head.weight"] = ("F32", [2, 2], bytes(16))
    refused(make_checkpoint(tmp_path / "c", prefixed), "lm_head.weight has shape [2, 2]")


def test_buffers_beyond_the_last_layer_are_refused(tmp_path: Path) -> None:
    tensors = read_raw(FIXTURES / "tiny" / "model.safetensors")
    tensors["h.5.attn.bias"] = tensors["h.0.attn.bias"]
    refused(make_checkpoint(tmp_path / "c", tensors, base="tiny"), "unexpected tensor 'h.5.attn.bias'")


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


# --- Atomic writes ----------------------------------------------------------------------------
def test_an_existing_folder_is_kept_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(ExportError) as excinfo:
        convert(FIXTURES / "tiny", out)
    one_line_error(excinfo, "already exists", "--force")
    assert (out / "precious.txt").read_text() == "keep me"
    (out / "precious.txt").unlink()  # --force replaces only an empty folder or an earlier export
    convert(FIXTURES / "tiny", out, replace=True)
    convert(FIXTURES / "tiny-prefixed", out, replace=True)
    assert open_checkpoint(out).config == reference_config("tiny-prefixed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


class Boom(Exception):
    pass


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_a_failure_midway_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                failure: BaseException) -> None:
    real_write = export.write_tensor
    calls = []

    def failing_write(*args: Any, **kwargs: Any) -> dict[str, object]:
        calls.append(1)
        if len(calls) == 5:
            raise failure
        return real_write(*args, **kwargs)

    monkeypatch.setattr(export, "write_tensor", failing_write)
    out = tmp_path / "out"
    if isinstance(failure, OSError):
        with pytest.raises(ExportError) as excinfo:
            convert(FIXTURES / "tiny", out)
        one_line_error(excinfo, "No space left on device")
    else:
        with pytest.raises(KeyboardInterrupt):
            convert(FIXTURES / "tiny", out)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_forced_replacement_keeps_the_old_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = convert(FIXTURES / "tiny", tmp_path / "out")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def failing_write(*args: object, **kwargs: object) -> dict[str, object]:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(export, "write_tensor", failing_write)
    with pytest.raises(ExportError):
        convert(FIXTURES / "tiny-prefixed", out, replace=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- The command line -------------------------------------------------------------------------
def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "export_weights.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_converts(tmp_path: Path) -> None:
    result = run_cli("--from", str(FIXTURES / "tiny"), "--out", str(tmp_path / "w"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout
    open_checkpoint(tmp_path / "w", verify_sha256=True)


@pytest.mark.parametrize("args, code, fragment", [
    (["--from", "nowhere", "--out", "w"], 1, "no such file or folder"),
    (["--from", str(FIXTURES / "tiny")], 2, "--from needs --out"),
    ([], 2, "one of the arguments --model --from is required"),
    (["--model", "7B"], 2, "invalid choice"),
    (["--from", str(FIXTURES / "tiny"), "--out", "exists"], 1, "already exists"),
])
def test_cli_errors_are_one_line(tmp_path: Path, args: list[str], code: int, fragment: str) -> None:
    (tmp_path / "exists").mkdir()
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == code
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("export_weights.py: error: ") and fragment in lines[0]
