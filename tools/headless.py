"""Headless Chromium for the pages: a screenshot, the DOM it built, and a PNG's colours.

Used by tests/test_pages_browser.py and tools/make_pictures.py.  Chromium is Debian's `chromium`
package (`apt-get install chromium`); nothing else is needed.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

# As root (CI, containers) Chromium's sandbox cannot start; the pages it opens are our own files.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--disable-extensions", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--metrics-recording-only", "--no-default-browser-check"]


def chromium() -> str | None:
    """The browser's path, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page: Path, png: Path, width: int, height: int, timeout: float = 120) -> None:
    browser = chromium()
    assert browser is not None
    subprocess.run([browser, *FLAGS, f"--screenshot={png}", f"--window-size={width},{height}", page.resolve().as_uri()],
                   check=True, capture_output=True, timeout=timeout)


def dump_dom(page: Path, timeout: float = 120) -> str:
    browser = chromium()
    assert browser is not None
    done = subprocess.run([browser, *FLAGS, "--dump-dom", page.resolve().as_uri()], check=True, capture_output=True,
                          timeout=timeout)
    return done.stdout.decode("utf-8")


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """An 8-bit RGB or RGBA PNG's width, height and rows of pixel bytes (the filters undone)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    position, chunks, header = 8, [], b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    if depth != 8 or colour_type not in (2, 6):
        raise ValueError(f"a PNG of bit depth {depth}, colour type {colour_type}: only 8-bit RGB(A) is read here")
    step = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * step
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - step] if x >= step else 0
            up = previous[x]
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                corner = previous[x - step] if x >= step else 0
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def distinct_colours(data: bytes) -> int:
    """How many different RGB colours a PNG holds (1 for a blank page)."""
    width, _height, rows = png_pixels(data)
    step = len(rows[0]) // width if rows else 3
    return len({row[x : x + 3] for row in rows for x in range(0, len(row), step)})
