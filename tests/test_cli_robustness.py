"""`python -m potatogpt` when its surroundings misbehave: one line on stderr, never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import Exported
from test_workers import running
from potatogpt.cli import generate as generate_command, main as cli
from potatogpt.fast.parallel import WorkerError

ROOT = Path(__file__).resolve().parent.parent
POSIX = pytest.mark.skipif(os.name != "posix", reason="POSIX shells and signals")


def shell(command: str, *args: str, stdin: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run `command` in sh with $0 = this Python, so that it can redirect file descriptors."""
    return subprocess.run(["sh", "-c", command, sys.executable, *args], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120, cwd=ROOT, stdin=stdin)


def one_error_line(stderr: str, *fragments: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("potatogpt: error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, stderr)
    return lines[0]


@POSIX
def test_stdout_closed(exported: Exported) -> None:
    result = shell('exec "$0" -m potatogpt --weights "$1" -n 2 Hello >&-', str(exported.folder("tiny-vocab")))
    assert result.returncode == 1
    one_error_line(result.stderr, "standard output is closed")


@POSIX
def test_stdout_full(exported: Exported) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    result = shell('exec "$0" -m potatogpt --weights "$1" -n 2 Hello >/dev/full', str(exported.folder("tiny-vocab")))
    assert result.returncode == 1
    one_error_line(result.stderr, "cannot write to standard output", "No space left on device")


@POSIX
def test_an_endless_stdin_is_not_read_to_the_end(exported: Exported) -> None:
    result = shell('exec "$0" -m potatogpt --weights "$1" -n 2 < /dev/zero', str(exported.folder("tiny-vocab")))
    assert result.returncode == 1
    one_error_line(result.stderr, "standard input", "131,072 characters")


@pytest.mark.parametrize("flag", ["-n", "--jobs", "--top-k", "--show-top", "--seed"])
def test_a_number_with_thousands_of_digits(flag: str) -> None:
    result = shell('exec "$0" -m potatogpt "$1" "$2" Hello', flag, "7" * 5000)
    assert result.returncode == 2
    error = result.stderr.splitlines()[-1]
    assert error.startswith("potatogpt: error: argument") and "5000 characters long" in error
    assert len(error) < 200 and "Traceback" not in result.stderr


# --- Signals ----------------------------------------------------------------------------------
# The CLI with its generation replaced by a long wait, so that a signal surely lands in it.
WAIT_IN_GENERATE = """
import sys, time
from potatogpt.cli import generate as generate_command, main as cli
def generate(args, model, prompt, load_seconds, waited_since):
    print(*[p.pid for p in model.pool.processes], file=sys.stderr, flush=True)
    time.sleep(60)
    return 0
generate_command.generate = generate
sys.exit(cli.main(sys.argv[1:]))
"""


@POSIX
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_termination_signal_stops_cleanly(exported: Exported, signum: int) -> None:
    process = subprocess.Popen([sys.executable, "-c", WAIT_IN_GENERATE, "--weights", str(exported.folder("tiny-vocab")),
                                "--jobs", "3", "Hello"], env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    workers = [int(pid) for pid in process.stderr.readline().split()]
    assert len(workers) == 2
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + signum
    assert stderr.strip() == "potatogpt: interrupted", stderr
    if Path("/proc/self/stat").exists():
        deadline = time.monotonic() + 10  # hang guard
        while any(running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(running(pid) for pid in workers), "the workers outlived the CLI"


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
