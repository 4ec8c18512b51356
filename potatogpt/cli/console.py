"""What the command-line tools owe their user when the surroundings misbehave.

Shared by `python -m potatogpt` and export_weights.py:

- SIGTERM (a `kill`, a cancelled CI job) and SIGHUP (a closed terminal) become a `Terminated`
  exception, a kind of KeyboardInterrupt.  Every clean-up already written for Ctrl-C (removing
  a half-written export, stopping --jobs workers) then runs for them too, instead of the
  process vanishing mid-write.
- Standard output may be closed (`>&-`) or full (`>/dev/full`); `finish_output` turns that into
  a one-line message instead of Python's "Exception ignored" at exit.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
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
    """Inside the block, Ctrl-C, SIGTERM and SIGHUP wait: the first one is raised (as
    KeyboardInterrupt or Terminated) when the block ends, so that an update the block makes is
    never left half done (an optimizer step changes every parameter in turn)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def later(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    signums = [signal.SIGINT, *TERMINATION_SIGNALS]
    previous = {signum: signal.signal(signum, later) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if pending:
        if pending[0] == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(pending[0])
