"""What the command line owes its user when the surroundings misbehave (cli/console.py): a closed or
full stdout is one line; SIGTERM and SIGHUP stop it like Ctrl-C, its workers with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import POSIX, ROOT, Exported, one_error_line, running, shell


# --- Standard output --------------------------------------------------------------------------
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
