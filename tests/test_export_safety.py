"""The exporter on a shared, hostile machine: --force never deletes what is not ours, a `kill`
cleans up like Ctrl-C, exports follow the umask, a closed or full stdout is one line."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_safetensors import one_line_error

from potatogpt.convert.export import ExportError, convert
from potatogpt.weights.checkpoint import open_checkpoint

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "checkpoints" / "tiny"
POSIX = pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals, umask and mkfifo")


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
        convert(TINY, out, replace=True)
    one_line_error(excinfo, str(out), what, "--force only replaces")
    assert sorted((str(p), p.is_symlink()) for p in tmp_path.rglob("*")) == before


def test_force_replaces_an_empty_folder_and_an_earlier_export(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    convert(TINY, out, replace=True)
    convert(TINY, out, replace=True)
    open_checkpoint(out, verify_sha256=True)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


# --- Permissions ------------------------------------------------------------------------------
@POSIX
@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_exports_follow_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        out = convert(TINY, tmp_path / "out")
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
    for file in out.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o666 & ~umask, file


# --- Signals ----------------------------------------------------------------------------------
# An export whose tensor writing is slowed down, so that a signal surely arrives midway.
SLOW_EXPORT = """
import sys, time
from potatogpt.convert import command, export
real = export.write_tensor
def slow(*args, **kwargs):
    time.sleep(0.2)
    return real(*args, **kwargs)
export.write_tensor = slow
sys.exit(command.main(sys.argv[1:]))
"""


@POSIX
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_midway_leaves_nothing_behind(tmp_path: Path, signum: int) -> None:
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-c", SLOW_EXPORT, "--from", str(TINY), "--out", str(out)],
                               cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("out.tmp-*/*.f32")):  # the export has started writing
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.01)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + signum, stderr
    assert stdout == ""
    assert len(stderr.splitlines()) == 1 and "interrupted" in stderr, stderr
    assert list(tmp_path.iterdir()) == []


# --- Standard output --------------------------------------------------------------------------
@POSIX
@pytest.mark.parametrize("redirect, reason", [(">&-", "standard output is closed"),
                                              (">/dev/full", "No space left on device")])
def test_the_final_message_on_a_closed_or_full_stdout(tmp_path: Path, redirect: str, reason: str) -> None:
    if redirect == ">/dev/full" and not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    command = f'exec "$0" "$1" --from "$2" --out "$3" {redirect}'
    result = subprocess.run(["sh", "-c", command, sys.executable, str(ROOT / "export_weights.py"), str(TINY),
                             str(tmp_path / "out")], env={**os.environ, "PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and reason in lines[0] and "wrote" in lines[0], result.stderr
    open_checkpoint(tmp_path / "out")  # the export itself is complete
