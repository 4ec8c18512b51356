"""At a terminal: the load's progress line, and prompt after prompt with one load.

Driven through a real pseudo-terminal (the `pty` module), so that isatty(), line editing and
Ctrl-C (the terminal turning \\x03 into SIGINT) behave as they do for a person at a keyboard.
"""

from __future__ import annotations

import builtins
import os
import pty
import select
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Exported
from potatogpt.cli import main as cli
from potatogpt.api import GPT2
from test_cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


class Terminal:
    """potatogpt running with a pseudo-terminal as its stdin, stdout and stderr."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "dumb"}
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become potatogpt
            os.chdir(ROOT)
            os.execve(sys.executable, [sys.executable, "-m", "potatogpt", *args], env)
        self.seen = ""

    def read_until(self, marker: str, timeout: float = 60.0) -> str:
        """Everything printed up to and including the next `marker`."""
        deadline = time.monotonic() + timeout
        while marker not in self.seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {marker!r} on the terminal; it shows {self.seen!r}")
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:  # Linux: EIO once the child has closed the terminal
                    data = b""
                if not data:
                    raise AssertionError(f"the program ended before {marker!r}; it showed {self.seen!r}")
                self.seen += data.decode("utf-8", errors="replace")
        end = self.seen.index(marker) + len(marker)
        shown, self.seen = self.seen[:end], self.seen[end:]
        return shown

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def interrupt(self) -> int:
        """Ctrl-C, then the exit status.  A keypress that lands while readline is still switching
        the terminal's mode can be lost (no person types that fast), so it is pressed again."""
        for _ in range(20):
            try:
                self.type("\x03")
            except OSError:  # the terminal is gone: the program has ended
                break
            pid, status = os.waitpid(self.pid, 0) if self._ended_within(1.0) else (0, 0)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        return self.exit_status()

    def _ended_within(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if select.select([self.fd], [], [], 0.05)[0]:
                    self.seen += os.read(self.fd, 4096).decode("utf-8", errors="replace")
            except OSError:
                return True  # EIO: the child closed the terminal, i.e. it has exited
        return False

    def exit_status(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:  # keep draining, or a child writing to a full terminal could never exit
                if select.select([self.fd], [], [], 0.05)[0]:
                    self.seen += os.read(self.fd, 4096).decode("utf-8", errors="replace")
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise AssertionError(f"still running after {timeout} s; it showed {self.seen!r}")


def test_prompt_after_prompt_until_ctrl_d(exported: Exported) -> None:
    terminal = Terminal("--weights", str(exported.folder("tiny-vocab")), "-n", "3", "--ignore-eot")
    before = terminal.read_until("Prompt: ")
    assert "\rloading " in before and "done in" in before  # the load line, drawn in place
    terminal.type("Hello\n")
    first = terminal.read_until("Prompt: ")
    assert "potatogpt: 3 tokens in" in first and "load" in first
    terminal.type("Hi there\n")
    second = terminal.read_until("Prompt: ")
    assert "potatogpt: 3 tokens in" in second and "load" not in second  # loaded once, not again
    terminal.type("\x04")  # Ctrl-D
    assert terminal.exit_status() == 0
    assert "Traceback" not in first + second + terminal.seen


def test_ctrl_c_at_the_prompt_exits_cleanly(exported: Exported) -> None:
    terminal = Terminal("--weights", str(exported.folder("tiny-vocab")), "-n", "2")
    terminal.read_until("Prompt: ")
    assert terminal.interrupt() == 130
    assert "Traceback" not in terminal.seen


def test_a_prompt_argument_with_interactive_comes_back(exported: Exported) -> None:
    terminal = Terminal("--weights", str(exported.folder("tiny-vocab")), "-n", "2", "-i", "Hello")
    shown = terminal.read_until("Prompt: ")
    assert "Hello" in shown and "potatogpt: 2 tokens" in shown
    terminal.type("\x04")
    assert terminal.exit_status() == 0


def test_a_prompt_argument_at_a_terminal_runs_once(exported: Exported) -> None:
    terminal = Terminal("--weights", str(exported.folder("tiny-vocab")), "-n", "2", "Hello")
    terminal.read_until("potatogpt: 2 tokens")
    assert terminal.exit_status() == 0
    assert "Prompt: " not in terminal.seen


def test_no_progress_line_off_a_terminal(exported: Exported) -> None:
    result = run_cli("--weights", str(exported.folder("tiny-vocab")), "-n", "2", "Hello")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr and "loading" not in result.stderr
    assert len(result.stderr.splitlines()) == 1  # the summary, nothing else


def test_ctrl_c_during_a_generation_returns_to_the_prompt(
    exported: Exported, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A tiny model finishes before a keypress could land, so the interruption is simulated.
    def interrupted_generate(self: GPT2, ids: list[int], *args: object, **kwargs: object) -> Iterator[int]:
        yield 15496  # "Hello"
        raise KeyboardInterrupt

    answers = iter(["Say:", "Again:"])

    def fake_input(prompt: str = "") -> str:
        print(prompt, end="")
        try:
            return next(answers)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr(GPT2, "generate", interrupted_generate)
    monkeypatch.setattr(builtins, "input", fake_input)
    status = cli.main(["--weights", str(exported.folder("tiny-vocab")), "-i", "-n", "10"])
    captured = capsys.readouterr()
    assert status == 0
    assert captured.out == "Prompt: Say:Hello\nPrompt: Again:Hello\nPrompt: \n"
    assert captured.err.count("(interrupted)") == 2
