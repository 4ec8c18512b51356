"""Opening files that may turn out not to be files.

A named pipe (FIFO) where manifest.json or packed.cache should be makes a plain open() wait for
a writer forever; a device may never end (/dev/zero) or may do something when opened; a folder
fails with an error that differs from one OS to the next.  So every file potatogpt opens in a
folder it does not control is opened here: without waiting (O_NONBLOCK), and refused unless it
is a regular file.  A symbolic link to a regular file is read like the file (Hugging Face's cache
is made of them), but never written through.

A refusal is a `NotARegularFile`, an OSError whose strerror says what is there instead, so the
caller's `except OSError` that already words "cannot read it (...)" in one line covers it too.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

# Not on Windows, where opening cannot block on a pipe in the first place.
_NO_WAITING = getattr(os, "O_NONBLOCK", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_NO_FOLLOWING = getattr(os, "O_NOFOLLOW", 0)


class NotARegularFile(OSError):
    """A path to read or write that holds a folder, a pipe, a device or a socket instead of a file."""

    def __init__(self, path: str | os.PathLike[str], what: str) -> None:
        super().__init__(errno.EINVAL, f"it is {what}, not a regular file", str(path))


def what_it_is(mode: int) -> str:
    """What a file of this st_mode is, for a message: 'a folder', 'a named pipe (FIFO)', ..."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def _checked(fd: int, path: str | os.PathLike[str]) -> int:
    """`fd` if it is open on a regular file; else close it and refuse."""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFile(path, what_it_is(st.st_mode))
        if _NO_WAITING:
            os.set_blocking(fd, True)  # (no effect on a regular file, but nothing left surprising)
        return fd
    except BaseException:
        os.close(fd)
        raise


def open_for_reading(path: str | os.PathLike[str]) -> BinaryIO:
    """`path` opened for reading in binary, if it is a regular file (or a link to one)."""
    return os.fdopen(_checked(os.open(path, os.O_RDONLY | _NO_WAITING | _BINARY), path), "rb")


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """Path.read_bytes(), refusing what is not a regular file instead of waiting on it."""
    with open_for_reading(path) as f:
        return f.read()


def irregular(path: str | os.PathLike[str]) -> str | None:
    """What is at `path` if something is there but not a regular file ('a folder', 'a named pipe
    (FIFO)', ...); None if it is a regular file, a link to one, or nothing.  For the checks made
    before choosing which files to read, so that a pipe is reported, not taken for a missing file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "a broken symbolic link" if os.path.islink(path) else None
    except OSError:
        return None  # (unreadable: opening it will say why)
    return None if stat.S_ISREG(st.st_mode) else what_it_is(st.st_mode)


def refuse_unless_regular_or_absent(path: str | os.PathLike[str]) -> None:
    """Raise NotARegularFile if something other than a regular file (a link included) is at `path`."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise NotARegularFile(path, what_it_is(st.st_mode))


def open_for_writing(path: str | os.PathLike[str], *, append: bool = False) -> BinaryIO:
    """`path` opened for writing in binary (created if absent; emptied unless `append`), only if
    it is absent or a regular file: never a pipe, a device, or a link to somewhere else."""
    refuse_unless_regular_or_absent(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC) | _NO_WAITING | _BINARY | _NO_FOLLOWING
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENXIO):  # it became a link, or a pipe with no reader, meanwhile
            refuse_unless_regular_or_absent(path)
        raise
    fd = _checked(fd, path)
    return os.fdopen(fd, "ab") if append else os.fdopen(fd, "wb")

