"""Writing a weights folder (weights/writer.py): the manifest last, nothing half-written left
behind, --force never deleting what is not ours, the umask followed."""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import CHECKPOINTS, POSIX, one_line_error, reference_config
from potatogpt.convert import export
from potatogpt.convert.export import ExportError, convert
from potatogpt.weights.catalogue import tensor_names
from potatogpt.weights.checkpoint import open_checkpoint


# --- The manifest comes last ------------------------------------------------------------------
def test_the_manifest_is_written_last_and_lists_files_in_order(tmp_path: Path) -> None:
    out = convert(CHECKPOINTS / "tiny", tmp_path / "tiny")
    manifest = json.loads((out / "manifest.json").read_text())
    assert [t["name"] for t in manifest["tensors"]] == tensor_names(reference_config("tiny"))
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert max(mtimes.values()) == mtimes["manifest.json"]
    assert sorted(mtimes) == sorted(["manifest.json"] + [t["file"] for t in manifest["tensors"]])


# --- A failure midway -------------------------------------------------------------------------
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
            convert(CHECKPOINTS / "tiny", out)
        one_line_error(excinfo, "No space left on device")
    else:
        with pytest.raises(KeyboardInterrupt):
            convert(CHECKPOINTS / "tiny", out)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_forced_replacement_keeps_the_old_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = convert(CHECKPOINTS / "tiny", tmp_path / "out")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def failing_write(*args: object, **kwargs: object) -> dict[str, object]:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(export, "write_tensor", failing_write)
    with pytest.raises(ExportError):
        convert(CHECKPOINTS / "tiny-prefixed", out, replace=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- --force ----------------------------------------------------------------------------------
def _a_file(out: Path) -> None:
    out.write_text("my thesis")


def _a_foreign_folder(out: Path) -> None:
    out.mkdir()
    (out / "photo.jpg").write_bytes(b"\xff\xd8")


def _a_foreign_manifest(out: Path) -> None:
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"format": "someone-else", "files": []}))


def _a_broken_manifest(out: Path) -> None:
    out.mkdir()
    (out / "manifest.json").write_text("[" * 100_000)


def _a_symlink_to_a_folder(out: Path) -> None:
    target = out.parent / "elsewhere"
    target.mkdir()
    (target / "notes.txt").write_text("keep")
    out.symlink_to(target)


def _a_fifo(out: Path) -> None:  # stands in for a device node, which only root can make
    os.mkfifo(out)


def _a_fifo_manifest(out: Path) -> None:  # reading it would wait forever
    out.mkdir()
    os.mkfifo(out / "manifest.json")


@POSIX
@pytest.mark.parametrize("make, what", [
    (_a_file, "is a file"),
    (_a_foreign_folder, "is a folder without a readable potatogpt manifest.json"),
    (_a_foreign_manifest, "manifest.json is not potatogpt's"),
    (_a_broken_manifest, "is a folder without a readable potatogpt manifest.json"),
    (_a_symlink_to_a_folder, "is a symbolic link"),
    (_a_fifo, "not a regular file or folder"),
    (_a_fifo_manifest, "is a folder without a readable potatogpt manifest.json"),
])
def test_force_refuses_anything_but_an_export(tmp_path: Path, make: Callable[[Path], None], what: str) -> None:
    out = tmp_path / "out"
    make(out)
    before = sorted((str(p), p.is_symlink()) for p in tmp_path.rglob("*"))
    with pytest.raises(ExportError) as excinfo:
        convert(CHECKPOINTS / "tiny", out, replace=True)
    one_line_error(excinfo, str(out), what, "--force only replaces")
    assert sorted((str(p), p.is_symlink()) for p in tmp_path.rglob("*")) == before


def test_force_replaces_an_empty_folder_and_an_earlier_export(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    convert(CHECKPOINTS / "tiny", out, replace=True)
    convert(CHECKPOINTS / "tiny", out, replace=True)
    open_checkpoint(out, verify_sha256=True)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


# --- Permissions ------------------------------------------------------------------------------
@POSIX
@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_exports_follow_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        out = convert(CHECKPOINTS / "tiny", tmp_path / "out")
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
    for file in out.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o666 & ~umask, file
