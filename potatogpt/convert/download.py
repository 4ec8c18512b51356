"""Fetching a checkpoint's files over HTTP with urllib: progress, resume, verification.

A download is written to `<file>.part` beside its destination and renamed into place only once
it is complete and checks out, so a file under its real name is always a whole, verified file
and a second run has nothing left to do.  An interrupted transfer keeps its `.part`: the next
attempt (in this run, or in a later one) asks the server for the rest with an HTTP Range
request, and starts again from zero if the server will not resume.

What is checked: the size the server announced, and the sha256 where the server states one.
The Hugging Face hub does, for large (Git LFS) files: when asked for a file it answers with a
redirect to its storage, and that redirect carries `X-Linked-Size` and `X-Linked-Etag`, the
latter being the file's sha256.  We ask with HEAD first and without following the redirect, so
that those headers are not lost on the way.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import IO

from ..cli.console import one_line
from ..cli.progress import ProgressLine
from ..weights.integrity import sha256_of
from ..weights.regular_files import NotARegularFile, open_for_reading, open_for_writing, refuse_unless_regular_or_absent

DEFAULT_BASE_URL = "https://huggingface.co"
# Where each size lives on the Hugging Face hub.
HUB_REPOS: dict[str, str] = {
    "124M": "openai-community/gpt2",
    "355M": "openai-community/gpt2-medium",
    "774M": "openai-community/gpt2-large",
    "1558M": "openai-community/gpt2-xl",
}
USER_AGENT = "potatogpt/0.1 (python-urllib)"  # servers like to know who is asking
BLOCK = 1 << 20  # bytes read per network call: large enough to be fast, small enough to be smooth
ATTEMPTS = 5  # tries per file before giving up (each resumes where the last one stopped)
TIMEOUT = 60.0  # seconds a connection may stay silent before it counts as interrupted
RETRY_DELAY = 1.0  # seconds before the first retry; later retries wait longer


class DownloadError(Exception):
    """A download that could not be completed; the message is one line saying what to do."""


def file_url(base_url: str, repo: str, file: str) -> str:
    """Where the hub serves a repository's file: {base}/{repo}/resolve/main/{file}."""
    check_base_url(base_url)
    return f"{base_url.rstrip('/')}/{repo}/resolve/main/{urllib.parse.quote(file)}"


def check_base_url(base_url: str) -> None:
    """Refuse, in one line, a --base-url that urllib would choke on (no scheme, empty, bad IPv6)."""
    try:
        parts = urllib.parse.urlsplit(base_url)
        parts.port  # noqa: B018 - parsing the port is what raises for "host:99999" or "[::1"
        # (urlsplit quietly drops line breaks and tabs; they would then reach every message.)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and one_line(base_url, len(base_url)) == base_url
    except ValueError:
        ok = False
    if not ok:
        raise DownloadError(f"--base-url {one_line(repr(base_url), 100)} is not a web address; "
                            f"give one like {DEFAULT_BASE_URL}")


# --- Progress ---------------------------------------------------------------------------------
def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _human_time(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """Bytes so far, speed and time left for one file, on a terminal or in a log.

    On a terminal the line redraws itself in place (cli/progress.py's ProgressLine) a few times
    a second.  Anywhere else (a log file, CI) each redraw would become a line, so we print a
    plain line only every tenth of the file.
    """

    def __init__(self, label: str, total: int | None, done: int = 0, stream: IO[str] | None = None) -> None:
        self.label = label
        self.total = total
        self.done = done
        self.stream = stream if stream is not None else sys.stderr
        self.line = ProgressLine(self.stream)
        self.interactive = self.line.interactive
        self.started = time.monotonic()
        self.resumed_from = done  # speed counts only this session's bytes
        self._last_tenth = -1

    def _line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        speed = (self.done - self.resumed_from) / elapsed
        if self.total:
            eta = _human_time((self.total - self.done) / speed) if speed > 0 else "?"
            return (f"{self.label}: {self.done / self.total:4.0%} {human_bytes(self.done)} / {human_bytes(self.total)}"
                    f"  {human_bytes(speed)}/s  ETA {eta}")
        return f"{self.label}: {human_bytes(self.done)}  {human_bytes(speed)}/s"

    def start(self) -> None:
        if self.done:
            self.stream.write(f"{self.label}: resuming after {human_bytes(self.done)}\n")
            self.stream.flush()
        self.update(0)

    def update(self, new_bytes: int) -> None:
        self.done += new_bytes
        if self.interactive:
            self.line.redraw(self._line())
        elif self.total:
            tenth = 10 * self.done // self.total
            if tenth != self._last_tenth:
                self._last_tenth = tenth
                self.stream.write(self._line() + "\n")
                self.stream.flush()

    def close(self) -> None:
        """End the display: the last state stays on screen, the next output starts a new line."""
        if self.interactive:
            self.line.redraw(self._line(), now=True)
            self.line.end()
        elif self.total and self._last_tenth != 10:
            self.stream.write(self._line() + "\n")
        self.stream.flush()


# --- What the server says about a file ---------------------------------------------------------
@dataclass(frozen=True)
class RemoteFile:
    size: int | None  # None when the server does not say
    sha256: str | None  # None when the server does not state one
    sha1: str | None = None  # a small file's ETag on the hub: git's sha1 of it


def _etag_hex(value: str | None, digits: int) -> str | None:
    """An ETag that is a hash of `digits` hex digits (sha256: 64, sha1: 40), else None."""
    if value is None:
        return None
    tag = value.strip().removeprefix("W/").strip('"').lower()
    return tag if len(tag) == digits and all(c in "0123456789abcdef" for c in tag) else None


def _sha1_matches(path: Path, expected: str) -> bool:
    """Whether a file is the one a 40-digit ETag names.

    The hub's ETag for a small file is git's name for it: the sha1 of b"blob <size>\\0" followed
    by the content.  Other servers use the plain sha1; either is accepted.
    """
    git, plain = hashlib.sha1(f"blob {path.stat().st_size}\0".encode()), hashlib.sha1()
    with open_for_reading(path) as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            git.update(block)
            plain.update(block)
    return expected in (git.hexdigest(), plain.hexdigest())


def _int_header(headers: Message, name: str) -> int | None:
    value = headers.get(name)
    return int(value) if value is not None and value.strip().isdigit() else None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hands redirects back to us instead of following them (their headers are what we want)."""

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: Message, newurl: str) -> urllib.request.Request | None:
        return None


def _request(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> urllib.request.Request:
    return urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT, **(headers or {})})


def _http_error(url: str, e: urllib.error.HTTPError) -> DownloadError:
    if e.code == 404:
        return DownloadError(f"{url}: not found (HTTP 404); check the model size and --base-url")
    if e.code in (401, 403):
        return DownloadError(f"{url}: access refused (HTTP {e.code}); the file is not public at this address")
    if e.code in (301, 302, 303, 307, 308):  # urllib gave up following them (a loop, or too many)
        return DownloadError(f"{url}: the server keeps redirecting (HTTP {e.code}, a redirect loop?); "
                             "check --base-url, or try again later")
    return DownloadError(f"{url}: the server answered HTTP {e.code} {one_line(e.reason, 80)}; try again later")


def _network_error(url: str, e: BaseException) -> DownloadError:
    if isinstance(e, http.client.HTTPException) and not isinstance(e, ConnectionError):
        return DownloadError(f"{url}: the server's answer is not valid HTTP ({_why(e)}); check --base-url, "
                             "or try again later")
    reason = e.reason if isinstance(e, urllib.error.URLError) else _why(e)
    return DownloadError(f"cannot reach {url} ({one_line(reason, 120)}); check the network connection and --base-url")


def _why(e: BaseException) -> str:
    """An exception from the network layer in a few words: its message (which may quote the
    server's raw bytes, line breaks and all: flattened), or its kind if it has none."""
    return one_line(e, 120) or type(e).__name__


def probe(url: str, *, timeout: float | None = None) -> RemoteFile:
    """Ask (with HEAD) for a file's size and sha256, following redirects by hand."""
    timeout = TIMEOUT if timeout is None else timeout
    opener = urllib.request.build_opener(_NoRedirect)
    for _ in range(10):  # a few redirects (a renamed repository, then the storage) at most
        try:
            with opener.open(_request(url, "HEAD"), timeout=timeout) as response:
                headers: Message = response.headers
                redirect = None
        except urllib.error.HTTPError as e:
            if e.code not in (301, 302, 303, 307, 308):
                if e.code in (405, 501):  # a server that won't answer HEAD: learn the size from GET instead
                    return RemoteFile(None, None)
                raise _http_error(url, e) from None
            headers, redirect = e.headers, e.headers.get("Location")
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            raise _network_error(url, e) from None
        # The first response that names a linked (LFS) file wins; later hops are storage servers.
        linked_size = _int_header(headers, "X-Linked-Size")
        linked_sha = _etag_hex(headers.get("X-Linked-Etag"), 64)
        if linked_size is not None or linked_sha is not None:
            return RemoteFile(linked_size, linked_sha)
        if redirect is None:
            size = _int_header(headers, "Content-Length")
            etag = headers.get("ETag")
            return RemoteFile(size, _etag_hex(etag, 64), _etag_hex(etag, 40))
        url = urllib.parse.urljoin(url, redirect)
    return RemoteFile(None, None)


# --- Downloading ------------------------------------------------------------------------------
class _Interrupted(Exception):
    """The connection ended before the file did; another attempt can resume."""

    def __init__(self, why: object) -> None:
        super().__init__(one_line(why, 120))  # it is printed, and may hold what a server sent


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def _transfer(url: str, part: Path, remote: RemoteFile, progress_factory: Callable[[int | None, int], Progress],
              timeout: float) -> int:
    """One attempt: continue `part` from where it ends.  Returns the size it reached."""
    have = part.stat().st_size if part.exists() else 0
    if remote.size is not None and have > remote.size:
        part.unlink()  # longer than the whole file: it can't be a prefix of it
        have = 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        response = urllib.request.urlopen(_request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to send, or the part is not a prefix: start over
            part.unlink()
            raise _Interrupted("range not satisfiable") from None
        raise _http_error(url, e) from None
    except (TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException) as e:
        raise _Interrupted(_why(e)) from None
    except urllib.error.URLError as e:
        raise _network_error(url, e) from None
    with response:
        total: int | None
        if have and response.status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if match is None or int(match[1]) != have:
                part.unlink()  # a range we did not ask for: trust nothing, start over
                raise _Interrupted("unexpected Content-Range")
            total = int(match[3]) if match[3] != "*" else remote.size
            mode = "ab"
        else:  # 200: the server sends the whole file, ignoring or not offered a Range
            have = 0
            length = _int_header(response.headers, "Content-Length")
            total = length if length is not None else remote.size
            mode = "wb"
        if remote.size is not None and total is not None and total != remote.size:
            raise DownloadError(f"{url}: the server now says the file is {total} bytes, earlier {remote.size}; "
                                "it changed during the download, re-run to fetch it again")
        progress = progress_factory(total, have)
        progress.start()
        try:
            with open_for_writing(part, append=mode == "ab") as out:
                while True:
                    try:
                        block = response.read(BLOCK)
                    except (TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException) as e:
                        raise _Interrupted(_why(e)) from None
                    if not block:
                        break
                    out.write(block)
                    progress.update(len(block))
                out.flush()
                os.fsync(out.fileno())
        finally:
            progress.close()
        size = part.stat().st_size
        if total is not None and size < total:
            raise _Interrupted(f"connection closed after {size} of {total} bytes")
        return size


def download(url: str, dest: Path, *, expected: RemoteFile | None = None, attempts: int | None = None,
             timeout: float | None = None, stream: IO[str] | None = None, label: str | None = None) -> Path:
    """Fetch `url` into `dest` unless `dest` is already there; resume, verify, then rename.

    A complete file is never re-fetched: it only ever gets its name after passing the checks.
    `attempts` and `timeout` default to the module's ATTEMPTS and TIMEOUT.
    """
    attempts = ATTEMPTS if attempts is None else attempts
    timeout = TIMEOUT if timeout is None else timeout
    if dest.is_file():
        return dest
    if dest.exists() or dest.is_symlink():
        raise DownloadError(f"{dest}: is in the way (not a file); remove it and run again")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create the folder {dest.parent} ({_folder_problem(dest.parent, e)}); "
                            "run from a folder you can write to, or choose another --out") from None
    part = dest.with_name(dest.name + ".part")
    try:
        refuse_unless_regular_or_absent(part)  # a pipe by that name would take the download forever
    except NotARegularFile as e:
        raise DownloadError(f"{part}: is in the way ({e.strerror}); remove it and run again") from None
    remote = expected if expected is not None else probe(url, timeout=timeout)
    name = label or dest.name

    def make_progress(total: int | None, done: int) -> Progress:
        return Progress(name, total, done, stream)

    attempt = 1
    while True:  # until a transfer completes or the last attempt fails
        try:
            size = _transfer(url, part, remote, make_progress, timeout)
            break
        except _Interrupted as e:
            have = part.stat().st_size if part.exists() else 0
            if attempt >= attempts:
                raise DownloadError(f"{url}: transfer interrupted ({e}); {have} bytes are kept in {part}, "
                                    "re-run the same command to resume") from None
            print(f"{name}: interrupted ({e}); retrying from byte {have}", file=stream or sys.stderr)
            time.sleep(RETRY_DELAY * attempt)  # give a struggling server a moment
            attempt += 1
        except OSError as e:  # the local disk: full, read-only, ...
            raise DownloadError(f"cannot write {part} ({e.strerror}); free some space or choose another folder") from None

    if remote.size is not None and size != remote.size:
        part.unlink()
        raise DownloadError(f"{url}: received {size} bytes but the server announced {remote.size}; "
                            "the partial file was removed, re-run to download it again")
    # Hash what is on disk, not what went by: that also covers the bytes of earlier attempts.
    actual = sha256_of(part) if remote.sha256 is not None else None
    if actual is not None and actual != remote.sha256:
        part.unlink()
        raise DownloadError(f"{url}: sha256 {actual} does not match the server's {remote.sha256}; "
                            "the corrupt download was removed, re-run to download it again")
    if remote.sha1 is not None and not _sha1_matches(part, remote.sha1):
        part.unlink()
        raise DownloadError(f"{url}: what arrived is not the file the server's ETag {remote.sha1} names "
                            "(a proxy's error page?); it was removed, re-run to download it again")
    try:
        os.replace(part, dest)
    except OSError as e:
        raise DownloadError(f"cannot write {dest} ({e.strerror}); remove what is in the way and run again") from None
    return dest


def _folder_problem(folder: Path, error: OSError) -> str:
    """Why a folder can't be made: a file where a folder belongs says so by name."""
    for parent in (folder, *folder.parents):
        if parent.exists():
            return f"{parent} is a file" if not parent.is_dir() else str(error.strerror)
    return str(error.strerror)


def fetch(base_url: str, repo: str, files: Iterable[str], folder: Path, *, stream: IO[str] | None = None,
          attempts: int | None = None, timeout: float | None = None) -> Path:
    """Download a repository's `files` into `folder` (skipping those already complete)."""
    for file in files:
        download(file_url(base_url, repo, file), folder / file, attempts=attempts, timeout=timeout, stream=stream)
    return folder
