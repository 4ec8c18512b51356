"""One line on a terminal that redraws itself in place: the load's and the download's progress."""

from __future__ import annotations

import time
from typing import IO

REDRAWS_PER_SECOND = 10  # a few redraws a second look smooth and cost nothing


class ProgressLine:
    """A line redrawn with a carriage return, at most REDRAWS_PER_SECOND times a second.

    Only on a terminal: anywhere else (a log, a pipe, CI) each redraw would become a line of its
    own, so `interactive` is False and `redraw` does nothing; callers that want a plain log line
    now and then write it themselves.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.interactive = stream.isatty()
        self.drawn = False  # whether the cursor sits at the end of a drawn line
        self._last_draw = -1.0

    def redraw(self, line: str, *, now: bool = False) -> None:
        """Show `line` in place of the last one (skipped if drawn too recently, unless `now`)."""
        if not self.interactive:
            return
        moment = time.perf_counter()
        if not now and moment - self._last_draw < 1 / REDRAWS_PER_SECOND:
            return
        self._last_draw = moment
        self.stream.write("\r" + line + "\x1b[K")  # \x1b[K: clear the rest of a longer old line
        self.stream.flush()
        self.drawn = True

    def clear(self) -> None:
        """Wipe the line, so that something else can be printed in its place (it is redrawn later)."""
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False
            self._last_draw = -1.0

    def end(self) -> None:
        """End the line, so whatever is printed next starts on a fresh one."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


class LoadProgress:
    """The load's progress on stderr: `loading weights/124M: 42% of 498 MB, 2.1 s`, redrawn in place.

    Off a terminal nothing is written at all: the summary line already gives the load time.
    """

    def __init__(self, what: str, stream: IO[str]) -> None:
        self.what = what
        self.line = ProgressLine(stream)
        self.started = time.perf_counter()
        self.line.redraw(f"{what} ...", now=True)  # at once: the tokenizer and the first file take a moment too

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        self.line.redraw(f"{self.what}: {percent:3d}% of {total / 1e6:.0f} MB, {time.perf_counter() - self.started:.1f} s",
                         now=done >= total)

    def finish(self) -> None:
        """Leave the time it took on the line (on a terminal; elsewhere the summary says it)."""
        self.line.redraw(f"{self.what}: done in {time.perf_counter() - self.started:.1f} s", now=True)
        self.abandon()

    def abandon(self) -> None:
        """End the line, so whatever is printed next (an error) starts on a fresh one."""
        self.line.end()
