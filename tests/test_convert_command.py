"""`python export_weights.py` (convert/command.py): converting and downloading from the command line,
one-line errors, a `kill` cleaning up like Ctrl-C, a closed or full stdout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import CHECKPOINTS, POSIX, ROOT, Hub, assert_exported
from potatogpt.weights.checkpoint import open_checkpoint


# --- Converting -------------------------------------------------------------------------------
def export_weights(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "export_weights.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_converts(tmp_path: Path) -> None:
    result = export_weights("--from", str(CHECKPOINTS / "tiny"), "--out", str(tmp_path / "w"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout
    open_checkpoint(tmp_path / "w", verify_sha256=True)


@pytest.mark.parametrize("args, code, fragment", [
    (["--from", "nowhere", "--out", "w"], 1, "no such file or folder"),
    (["--from", str(CHECKPOINTS / "tiny")], 2, "--from needs --out"),
    ([], 2, "one of the arguments --model --from is required"),
    (["--model", "7B"], 2, "invalid choice"),
    (["--from", str(CHECKPOINTS / "tiny"), "--out", "exists"], 1, "already exists"),
])
def test_cli_errors_are_one_line(tmp_path: Path, args: list[str], code: int, fragment: str) -> None:
    (tmp_path / "exists").mkdir()
    result = export_weights(*args, cwd=tmp_path)
    assert result.returncode == code
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("export_weights.py: error: ") and fragment in lines[0]


# --- Downloading ------------------------------------------------------------------------------
def test_cli_downloads_and_reruns(hub: Hub, tmp_path: Path, served_export: dict[str, bytes]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(ROOT / "export_weights.py"), "--model", "124M", "--base-url", hub.url]
    first = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert_exported(tmp_path / "weights" / "124M", served_export)
    assert "model.safetensors" in first.stderr and "Traceback" not in first.stderr

    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0 and "nothing to do" in second.stdout

    bad = subprocess.run([*command[:-1], hub.url + "/nowhere", "--out", "other"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and "HTTP 404" in bad.stderr


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
    process = subprocess.Popen([sys.executable, "-c", SLOW_EXPORT, "--from", str(CHECKPOINTS / "tiny"), "--out", str(out)],
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
    result = subprocess.run(["sh", "-c", command, sys.executable, str(ROOT / "export_weights.py"), str(CHECKPOINTS / "tiny"),
                             str(tmp_path / "out")], env={**os.environ, "PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and reason in lines[0] and "wrote" in lines[0], result.stderr
    open_checkpoint(tmp_path / "out")  # the export itself is complete


@pytest.mark.parametrize("setting", [{"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}],
                         ids=["PYTHONIOENCODING=ascii", "LC_ALL=C"])
def test_a_finished_export_to_a_folder_an_ascii_terminal_cannot_show(tmp_path: Path, setting: dict[str, str]) -> None:
    """The export completes; its last message must not turn it into a failure (it used to exit 1)."""
    out = tmp_path / "pömme-de-terre" / "weights"
    env = {**os.environ, "PYTHONPATH": str(ROOT), **setting}
    env.pop("LANG", None) if "LC_ALL" in setting else None
    result = subprocess.run([sys.executable, str(ROOT / "export_weights.py"), "--from", str(CHECKPOINTS / "tiny"),
                             "--out", str(out)], env=env, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"wrote ") and result.stdout.count(b"\n") == 1
    assert result.stderr == b""
    open_checkpoint(out)
