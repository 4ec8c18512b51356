"""convert(source, out) and export_model(size) (convert/export.py): exact tensors, an existing
folder kept unless forced, and download-then-convert against the stand-in hub (helpers.py)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from helpers import (
    BUNDLED, CHECKPOINTS, ERROR_PAGE, NOT_FILES, POSIX, Hub, assert_exported, export_from_hub, model_gets, never_waits,
    one_line_error, put_not_a_file, read_raw, reference_config, same_floats, widen_independently,
)
from potatogpt.convert.export import ExportError, convert, export_model
from potatogpt.weights.catalogue import tensor_names
from potatogpt.weights.checkpoint import open_checkpoint

pytestmark = pytest.mark.usefixtures("quick")


# --- Exact conversion -------------------------------------------------------------------------
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


@pytest.mark.parametrize("name", ["tiny", "tiny-prefixed", "tiny-f16", "tiny-bf16", "tiny-vocab"])
def test_fixture_checkpoints_convert_exactly(tmp_path: Path, name: str) -> None:
    out = convert(CHECKPOINTS / name, tmp_path / name)
    checkpoint = open_checkpoint(out, verify_sha256=True)
    config = reference_config(name)
    assert checkpoint.config == config
    source = read_raw(CHECKPOINTS / name / "model.safetensors")
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


def test_the_safetensors_file_itself_can_be_given(tmp_path: Path) -> None:
    out = convert(CHECKPOINTS / "tiny-prefixed" / "model.safetensors", tmp_path / "p")
    assert open_checkpoint(out).config == reference_config("tiny-prefixed")


# --- An existing folder -----------------------------------------------------------------------
def test_an_existing_folder_is_kept_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(ExportError) as excinfo:
        convert(CHECKPOINTS / "tiny", out)
    one_line_error(excinfo, "already exists", "--force")
    assert (out / "precious.txt").read_text() == "keep me"
    (out / "precious.txt").unlink()  # --force replaces only an empty folder or an earlier export
    convert(CHECKPOINTS / "tiny", out, replace=True)
    convert(CHECKPOINTS / "tiny-prefixed", out, replace=True)
    assert open_checkpoint(out).config == reference_config("tiny-prefixed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- Download, then convert -------------------------------------------------------------------
def test_download_and_convert_then_rerun_does_nothing(hub: Hub, tmp_path: Path, served_export: dict[str, bytes]) -> None:
    out = tmp_path / "weights" / "124M"
    log = io.StringIO()
    assert export_model("124M", out, base_url=hub.url, stream=log) == out
    assert_exported(out, served_export)
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == ["124M"]  # cache removed
    assert model_gets(hub) == [None]
    assert "model.safetensors: 100%" in log.getvalue()

    count = len(hub.requests)
    export_model("124M", out, base_url=hub.url, stream=log)
    assert len(hub.requests) == count  # not even a HEAD


def test_keep_download_keeps_the_cache(hub: Hub, tmp_path: Path) -> None:
    out = tmp_path / "weights" / "124M"
    export_model("124M", out, base_url=hub.url, keep_download=True, stream=io.StringIO())
    cache = tmp_path / "weights" / ".download" / "124M"
    assert sorted(p.name for p in cache.iterdir()) == ["config.json", "merges.txt", "model.safetensors", "vocab.json"]


def test_an_unknown_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError) as excinfo:
        export_model("7B", tmp_path / "7B")
    one_line_error(excinfo, "unknown model size '7B'", "124M")


def test_a_folder_in_the_way_is_refused(hub: Hub, tmp_path: Path) -> None:
    out = tmp_path / "124M"
    out.mkdir()
    with pytest.raises(ExportError) as excinfo:
        export_model("124M", out, base_url=hub.url, stream=io.StringIO())
    one_line_error(excinfo, "not a complete export")
    assert hub.requests == []


def test_an_error_page_nothing_could_catch_is_removed_when_conversion_fails(hub: Hub, tmp_path: Path) -> None:
    real = hub.files["merges.txt"]
    hub.files["merges.txt"] = ERROR_PAGE
    hub.etags["merges.txt"] = "not-a-hash"  # the proxy answers HEAD itself: nothing to check against
    out = tmp_path / "weights" / "124M"
    with pytest.raises(ExportError) as excinfo:
        export_from_hub(hub, out)
    one_line_error(excinfo, "merges.txt", "was removed", "run the same command again")
    assert not (tmp_path / "weights" / ".download" / "124M" / "merges.txt").exists()
    hub.files["merges.txt"] = real
    export_from_hub(hub, out)
    open_checkpoint(out, verify_sha256=True)


# --- Hostile: a pipe, a folder or a device among the checkpoint's files -----------------------------
@POSIX
@pytest.mark.parametrize("kind", NOT_FILES)
@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "vocab.json", "merges.txt"])
def test_a_checkpoint_file_that_is_not_a_file(tmp_path: Path, name: str, kind: str) -> None:
    """Each file convert() reads, replaced by something a plain open() would wait on or misread:
    refused in one line naming it, and nothing written."""
    source = tmp_path / "source"
    shutil.copytree(CHECKPOINTS / "tiny-vocab", source)
    shutil.copy(BUNDLED / "encoder.json", source / "vocab.json")
    shutil.copy(BUNDLED / "vocab.bpe", source / "merges.txt")
    put_not_a_file(source / name, kind)
    with never_waits(), pytest.raises(ExportError) as excinfo:
        convert(source, tmp_path / "out")
    one_line_error(excinfo, str(source / name), "not a regular file")
    assert not (tmp_path / "out").exists()
