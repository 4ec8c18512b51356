"""`python -m potatogpt` (cli/main.py): the command is picked from the first word, every failure
however deep is one line and an exit status, and Ctrl-C during start-up is never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import POSIX, ROOT, Exported, one_error_line, run_main
from potatogpt.cli import generate as generate_command, main as cli
from potatogpt.fast.parallel import WorkerError


# --- Picking the command ----------------------------------------------------------------------
def test_instrument_names_only_dispatch_in_first_place(capsys: pytest.CaptureFixture[str], exported: Exported) -> None:
    """`python -m potatogpt -- trace` generates from the prompt 'trace'."""
    status, out, _ = run_main(capsys, "--weights", str(exported.folder("tiny-vocab")), "-n", "2", "--", "trace")
    assert status == 0 and out.startswith("trace")


# --- Errors from deep inside ------------------------------------------------------------------
@pytest.mark.parametrize("error, fragment", [
    (WorkerError("--jobs: a worker process died (killed, or out of memory?); run again"), "a worker process died"),
    (MemoryError(), "out of memory"),
])
def test_deep_errors_are_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                  error: BaseException, fragment: str) -> None:
    def failing_run(args: object) -> int:
        raise error

    monkeypatch.setattr(generate_command, "run", failing_run)
    assert cli.main(["Hello"]) == 1
    one_error_line(capsys.readouterr().err, fragment)


def test_a_read_only_working_directory_with_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(Path, "mkdir", read_only)  # root ignores chmod, so pretend
    assert cli.main(["--download", "--base-url", "http://127.0.0.1:9", "Hello"]) == 1
    one_error_line(capsys.readouterr().err, "Permission denied")


def test_a_garbage_base_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--download", "--base-url", "http://[::1", "Hello"]) == 1
    one_error_line(capsys.readouterr().err, "--base-url", "is not a web address")


# --- Ctrl-C at start-up -----------------------------------------------------------------------
@POSIX
def test_ctrl_c_while_the_modules_load() -> None:
    """Ctrl-C at many moments of start-up: never a traceback through potatogpt's own files.

    (A Ctrl-C that lands in the interpreter's start-up, before potatogpt's first line, is
    Python's to report; those runs only have to leave potatogpt out of it.)
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for step in range(40):
        process = subprocess.Popen([sys.executable, "-m", "potatogpt", "--weights", "/nonexistent", "Hello"],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.005 * step)  # from the interpreter's start to well after the imports
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert f"{os.sep}potatogpt{os.sep}" not in stderr, stderr
        if process.returncode == 130:
            assert stderr.strip() == "potatogpt: interrupted", stderr
