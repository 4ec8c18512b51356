"""What the command-line tools owe their user when the surroundings misbehave.

Shared by `python -m potatogpt` and export_weights.py:

- SIGTERM (a `kill`, a cancelled CI job) and SIGHUP (a closed terminal) become a `Terminated`
  exception, a kind of KeyboardInterrupt.  Every clean-up already written for Ctrl-C (removing
  a half-written export, stopping --jobs workers) then runs for them too, instead of the
  process vanishing mid-write.
- Standard output may be closed (`>&-`) or full (`>/dev/full`); `finish_output` turns that into
  a one-line message instead of Python's "Exception ignored" at exit; an encoding that can't
  show a character gets a "?" (`replace_unprintable`), never a failed run.
- Text from outside (a server's answer, an OS error) goes into a message through `one_line`.
- `interrupts_deferred` holds Ctrl-C back while something must not be cut in half.
"""

from __future__ import annotations

import io
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TextIO


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal other than Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# SIGHUP does not exist on Windows; there, only SIGTERM is caught.
TERMINATION_SIGNALS = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Later signals are ignored so that they can't cut the clean-up short; SIGKILL still works.
    for other in TERMINATION_SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    raise Terminated(signum)


@contextmanager
def termination_signals_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM and SIGHUP raise Terminated, as Ctrl-C raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set signal handlers (and receives the signals)
        return
    previous = {signum: signal.signal(signum, _terminate) for signum in TERMINATION_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """The shell's convention, 128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + (interrupt.signum if isinstance(interrupt, Terminated) else signal.SIGINT)


def discard_output(stream: TextIO | None) -> None:
    """Point a broken output stream's file at /dev/null, so Python's final flush stays quiet."""
    try:
        if stream is not None:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
    except (OSError, ValueError):
        pass


def finish_output(last_words: str = "", stream: TextIO | None = None) -> str | None:
    """Write `last_words` to stdout (or `stream`) and flush it.

    None if everything went out, else why it could not be written.
    """
    stream = sys.stdout if stream is None else stream
    if stream is None:
        return "standard output is closed"
    try:
        stream.write(last_words)
        stream.flush()
    except BrokenPipeError:
        discard_output(stream)
        return None  # the reader left (`| head`): not an error, as for other command-line tools
    except (OSError, ValueError) as e:  # ValueError: the stream was closed from Python
        discard_output(stream)
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        return f"cannot write to standard output ({reason})"
    return None


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Inside the block, Ctrl-C, SIGTERM and SIGHUP wait: the first one is handled (as
    KeyboardInterrupt or Terminated) when the block ends, so that what the block does is never
    left half done (an optimizer step changes every parameter in turn; a message on a --jobs
    pipe must go out or come in whole, or the pipe is out of step for good).

    Only signals with a Python handler wait (a signal left at its default or ignored keeps its
    behaviour).  The handlers are swapped one at a time, and a signal can arrive between any two
    steps of that: so the stand-in knows the original handler from before it is installed, and
    once the block is over it hands anything that still reaches it straight to that original.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers, and Python runs them only there
        return
    pending: list[int] = []
    originals: dict[int, Callable[[int, FrameType | None], object]] = {}
    over = False

    def later(signum: int, frame: FrameType | None) -> None:
        if not over:
            pending.append(signum)
        elif signum in originals:
            originals[signum](signum, frame)

    try:
        for signum in (signal.SIGINT, *TERMINATION_SIGNALS):
            handler = signal.getsignal(signum)
            if callable(handler):
                originals[signum] = handler
                signal.signal(signum, later)
        yield
    finally:
        over = True
        for signum, handler in originals.items():
            signal.signal(signum, handler)
    if pending:
        originals[pending[0]](pending[0], None)


# Whitespace and control characters: a line break (of any convention) must never reach a message.
_BREAKS = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: object, limit: int = 200) -> str:
    """Text from outside (a server's reason phrase, an exception's message) made fit for a one-line
    error: every run of whitespace and control characters becomes one space, and what is longer
    than `limit` characters is cut, with "..." saying so."""
    flat = _BREAKS.sub(" ", str(text)).strip()
    return flat if len(flat) <= limit else flat[: max(limit - 3, 0)].rstrip() + "..."


def replace_unprintable(stream: TextIO | None) -> None:
    """Let `stream` print what its encoding cannot show as "?" (an ASCII terminal, LC_ALL=C)
    instead of failing: a model's text, or a path, must not turn a finished run into an error."""
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors="replace")
