"""The default command (cli/generate.py), end to end on the tiny real-vocabulary checkpoint: a prompt
in, tokens out one at a time; and at a terminal, prompt after prompt with one load."""

from __future__ import annotations

import builtins
import io
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import cast

import pytest

from helpers import POSIX, ROOT, Exported, greedy_case, one_error_line, run_cli, shell
import potatogpt
from potatogpt.api import GPT2
from potatogpt.cli import main as cli
from potatogpt.cli.console import Terminated


# --- Generating -------------------------------------------------------------------------------
SUMMARY = re.compile(r"^potatogpt: (\d+) tokens in [\d.]+ s: prompt \(\d+ tokens\) [\d.]+ s(, then [\d.]+ s/token)?; "
                     r"first token after [\d.]+ s, load [\d.]+ s")


@pytest.mark.parametrize("speed_flags", [[], ["--packed"], ["--low-memory", "--jobs", "2"], ["--compact"], ["--storage", "packed"], ["--reference"]])
def test_streams_the_greedy_continuation(exported: Exported, speed_flags: list[str]) -> None:
    case = greedy_case()
    n_new = len(cast(list[int], case["new_ids"]))
    result = run_cli("--weights", str(exported.folder("tiny-vocab")), "-n", str(n_new), "--ignore-eot",
                     *speed_flags, str(case["prompt_text"]))
    assert result.returncode == 0, result.stderr
    # transformers' own decoding of its greedy tokens, after the prompt:
    assert result.stdout == f"{case['prompt_text']}{case['new_text']}\n"
    summary = SUMMARY.match(result.stderr.strip())
    assert summary and int(summary.group(1)) == n_new, result.stderr


@pytest.mark.parametrize("settings", [["--temperature", "0.9", "--seed", "3"],
                                      ["--temperature", "1.3", "--top-k", "20", "--top-p", "0.9", "--seed", "8"]])
def test_sampling_flags_reach_the_sampler(exported: Exported, settings: list[str]) -> None:
    """The CLI's text is exactly the API's seeded `generate` with the same settings; and the
    settings matter (another seed, or no temperature, gives other text), so a CLI that dropped
    --temperature or --seed would fail here."""
    folder = exported.folder("tiny-vocab")
    model = potatogpt.load(folder)
    ids = model.tokenizer.encode("Hello, my name is")
    flags = dict(zip(settings[::2], settings[1::2]))

    def api_text(seed: int, temperature: float) -> str:
        new = model.generate(ids, 12, temperature=temperature, seed=seed, stop_at_eot=False,
                             top_k=int(flags["--top-k"]) if "--top-k" in flags else None,
                             top_p=float(flags["--top-p"]) if "--top-p" in flags else None)
        return model.tokenizer.decode(list(new))

    expected = api_text(int(flags["--seed"]), float(flags["--temperature"]))
    assert expected != api_text(int(flags["--seed"]) + 1, float(flags["--temperature"]))
    assert expected != model.tokenizer.decode(list(model.generate(ids, 12, stop_at_eot=False)))
    result = run_cli("--weights", str(folder), "-n", "12", "--ignore-eot", *settings, "Hello, my name is")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Hello, my name is{expected}\n"


def test_prompt_from_a_pipe(exported: Exported) -> None:
    case = greedy_case()
    result = run_cli("--weights", str(exported.folder("tiny-vocab")), "-n", "3", stdin=f"{case['prompt_text']}\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(case["prompt_text"]))


def test_show_top_lists_probabilities(exported: Exported) -> None:
    result = run_cli("--weights", str(exported.folder("tiny-vocab")), "-n", "2", "--show-top", "3", "Hello")
    assert result.returncode == 0, result.stderr
    steps = [line for line in result.stdout.splitlines() if line.lstrip().startswith("[")]
    assert len(steps) == 2
    assert all(len(re.findall(r"\d+\.\d%", line)) == 3 for line in steps)


def test_prompt_too_long_for_the_context(exported: Exported) -> None:
    result = run_cli("--weights", str(exported.folder("tiny-vocab")), "-n", "60", "word " * 10)
    assert result.returncode == 1
    assert "context is 64" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--top-p", "2"], "--top-p"),
        (["--temperature", "-1"], "--temperature"),
        (["-n", "lots"], "--max-new-tokens"),
        (["--top-k", "5"], "add --temperature"),
        (["--model", "7B"], "--model"),
        (["--jobs", "0"], "--jobs"),
        (["--packed", "--low-memory"], "not allowed with"),
        (["--reference", "--packed"], "not allowed with"),
        (["--reference", "--jobs", "2"], "drop --jobs"),
    ],
)
def test_bad_flags_are_refused(flags: list[str], message: str) -> None:
    result = run_cli(*flags, "Hello")
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_help_has_examples() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout and "--show-top" in result.stdout


@POSIX
def test_an_endless_stdin_is_not_read_to_the_end(exported: Exported) -> None:
    result = shell('exec "$0" -m potatogpt --weights "$1" -n 2 < /dev/zero', str(exported.folder("tiny-vocab")))
    assert result.returncode == 1
    one_error_line(result.stderr, "standard input", "131,072 characters")


# --- Streaming, interrupted, to a terminal that cannot show a character -----------------------
class Recorder(io.StringIO):
    """A stdout that remembers what had been written at each flush."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        self.flushed.append(self.getvalue())


def test_each_token_is_flushed_as_it_comes(exported: Exported, monkeypatch: pytest.MonkeyPatch) -> None:
    out = Recorder()
    monkeypatch.setattr(sys, "stdout", out)
    assert cli.main(["--weights", str(exported.folder("tiny-vocab")), "-n", "5", "--ignore-eot", "Hello"]) == 0
    # The prompt, then one flush per token (a token that ends mid-character adds nothing yet).
    assert out.flushed[0] == "Hello"
    assert len(out.flushed) >= 6
    assert out.flushed == sorted(out.flushed, key=len)


@pytest.mark.parametrize(("interrupt", "status"), [(KeyboardInterrupt(), 130), (Terminated(signal.SIGTERM), 143)])
def test_an_interrupt_keeps_the_output_and_prints_the_summary(
    exported: Exported, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    interrupt: KeyboardInterrupt, status: int,
) -> None:
    """Ctrl-C, or a `kill` (which console.py turns into an interrupt), in the middle of generating:
    what was printed stays, the summary says so, and the exit status says which it was."""

    def interrupted_generate(self: GPT2, ids: list[int], *args: object, **kwargs: object) -> Iterator[int]:
        yield 15496  # "Hello"
        yield 995  # " world"
        raise interrupt

    monkeypatch.setattr(GPT2, "generate", interrupted_generate)
    assert cli.main(["--weights", str(exported.folder("tiny-vocab")), "-n", "10", "Say:"]) == status
    captured = capsys.readouterr()
    assert captured.out == "Say:Hello world\n"
    assert "2 tokens" in captured.err and "(interrupted)" in captured.err


def test_a_terminal_that_cannot_show_a_character(exported: Exported) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="ascii")
    result = subprocess.run([sys.executable, "-m", "potatogpt", "--weights", str(exported.folder("tiny-vocab")),
                             "-n", "2", "Caf\u00e9 \u2615"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Caf? ?")


# --- At a terminal: the load's progress line, and prompt after prompt with one load -----------
# Driven through a real pseudo-terminal (the `pty` module), so that isatty(), line editing and
# Ctrl-C (the terminal turning \x03 into SIGINT) behave as they do for a person at a keyboard.
PSEUDO_TERMINAL = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


class Terminal:
    """potatogpt running with a pseudo-terminal as its stdin, stdout and stderr."""

    def __init__(self, *args: str) -> None:
        import pty  # POSIX only: imported here, so that the rest of this file runs anywhere

        env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "dumb"}
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become potatogpt
            os.chdir(ROOT)
            # A shell starts background jobs with Ctrl-C ignored, and exec keeps that: undo it.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
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


@PSEUDO_TERMINAL
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


@PSEUDO_TERMINAL
def test_ctrl_c_at_the_prompt_exits_cleanly(exported: Exported) -> None:
    terminal = Terminal("--weights", str(exported.folder("tiny-vocab")), "-n", "2")
    terminal.read_until("Prompt: ")
    assert terminal.interrupt() == 130
    assert "Traceback" not in terminal.seen


@PSEUDO_TERMINAL
def test_a_prompt_argument_with_interactive_comes_back(exported: Exported) -> None:
    terminal = Terminal("--weights", str(exported.folder("tiny-vocab")), "-n", "2", "-i", "Hello")
    shown = terminal.read_until("Prompt: ")
    assert "Hello" in shown and "potatogpt: 2 tokens" in shown
    terminal.type("\x04")
    assert terminal.exit_status() == 0


@PSEUDO_TERMINAL
def test_a_prompt_argument_at_a_terminal_runs_once(exported: Exported) -> None:
    terminal = Terminal("--weights", str(exported.folder("tiny-vocab")), "-n", "2", "Hello")
    terminal.read_until("potatogpt: 2 tokens")
    assert terminal.exit_status() == 0
    assert "Prompt: " not in terminal.seen


@PSEUDO_TERMINAL
def test_no_progress_line_off_a_terminal(exported: Exported) -> None:
    result = run_cli("--weights", str(exported.folder("tiny-vocab")), "-n", "2", "Hello")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr and "loading" not in result.stderr
    assert len(result.stderr.splitlines()) == 1  # the summary, nothing else


# --- Hostile: Ctrl-C at a real terminal while --jobs workers are busy ---------------------------
# The tiny-vocab model's output layer has 50257 columns: each worker's reply is longer than a pipe
# holds, so a Ctrl-C can land halfway through reading one.  Pressed at many moments of a
# generation, each Ctrl-C must stop that generation only: the next prompt is answered, right.
CTRL_C_DELAYS = [0.0, 0.005, 0.01, 0.02, 0.035, 0.05, 0.08, 0.12, 0.17, 0.22]


@PSEUDO_TERMINAL
@pytest.mark.parametrize("storage", [[], ["--packed"]], ids=["exact", "packed"])
def test_ctrl_c_with_jobs_at_many_moments_then_the_next_prompt_works(exported: Exported, storage: list[str]) -> None:
    folder = exported.folder("tiny-vocab")
    single = potatogpt.load(folder)
    check = "The meaning of life is"
    expected = single.tokenizer.decode(list(single.generate(single.tokenizer.encode(check), 30, stop_at_eot=False)))
    terminal = Terminal("-i", "--jobs", "2", *storage, "--weights", str(folder), "-n", "30", "--ignore-eot")
    transcript = terminal.read_until("Prompt: ")
    for delay in CTRL_C_DELAYS:
        terminal.type("Once upon a time\n")
        transcript += terminal.read_until("Once upon a time")  # the terminal's echo of the line typed
        transcript += terminal.read_until("Once upon a time")  # generate() printing it: under way
        time.sleep(delay)
        terminal.type("\x03")
        shown = terminal.read_until("Prompt: ")
        assert "(interrupted)" in shown, shown
        terminal.type(check + "\n")
        answer = terminal.read_until("Prompt: ")
        assert (check + expected) in answer.replace("\r\n", "\n"), f"after a Ctrl-C {delay} s in: {answer!r}"
        assert "(interrupted)" not in answer and "error" not in answer
        transcript += shown + answer
    terminal.type("\x04")
    assert terminal.exit_status() == 0
    transcript += terminal.seen
    for noise in ("Traceback", "Exception ignored", "error", "load the model again"):
        assert noise not in transcript


@PSEUDO_TERMINAL
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
