"""Is a file what the manifest says it is?  Sizes, sha256 sums, and numbers that are not numbers."""

from __future__ import annotations

import hashlib
import math
import os
import stat
import sys
from array import array
from pathlib import Path

from .catalogue import FLOAT_BYTES, WeightsError
from .manifest import FileEntry
from .regular_files import open_for_reading, what_it_is


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open_for_reading(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_file(folder: Path, entry: FileEntry, verify_sha256: bool) -> None:
    path = folder / entry.file
    try:
        # A symlink could still lead out of the folder even with a plain name.
        # (os.path.realpath, unlike Path.resolve before Python 3.13, doesn't raise on a symlink loop.)
        if not Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder)):
            raise WeightsError(f"{path}: links outside the weights folder; refusing to read it")
        st = path.stat()
    except FileNotFoundError:
        raise WeightsError(f"{path}: file is missing; the export is incomplete, re-run export_weights.py") from None
    except OSError as e:
        raise WeightsError(f"{path}: cannot be read ({e.strerror}); check its permissions") from None
    if not stat.S_ISREG(st.st_mode):  # a pipe's size is 0, a folder's some block size: say what it is
        raise WeightsError(f"{path}: is {what_it_is(st.st_mode)}, not a regular file; re-run export_weights.py")
    size = st.st_size
    if size != entry.size:
        state = "truncated" if size < entry.size else "too long"
        raise WeightsError(f"{path}: {state} ({size} bytes, the manifest says {entry.size}); "
                           "the file is damaged, re-run export_weights.py")
    if verify_sha256:
        try:
            actual = sha256_of(path)
        except OSError as e:
            raise WeightsError(f"{path}: cannot be read ({e.strerror}); check its permissions") from None
        if actual != entry.sha256:
            raise WeightsError(f"{path}: sha256 is {actual}, the manifest says {entry.sha256}; "
                               "the file is damaged, re-run export_weights.py")


# --- Values that are not numbers --------------------------------------------------------------
# A NaN or an infinity in the weights would flow silently into every logit.  Checking 124 million
# floats one by one in Python would add seconds to every load, so the test is done on their
# bytes, at C speed.  A float32 is NaN or infinite exactly when its 8 exponent bits are all ones.
# Seven of them are the top byte's low bits (its high bit is the sign), so any such float has a
# top byte of 0x7F or 0xFF.  The table below marks those bytes, and `translate` applies it to
# every float's top byte at once; the few finite floats that also match (magnitudes of 2^127
# and up) are told apart by summing their stretch of the array only.
_TOP_BYTE_MAY_BE_NON_FINITE = bytes(1 if byte & 0x7F == 0x7F else 0 for byte in range(256))
_CHECK_STRETCH = 1 << 16  # floats per step: big enough for speed, small enough for the slow path


def first_non_finite(values: array[float]) -> int | None:
    """The index of the first NaN or infinity among float32 `values`, or None if they are all finite."""
    top = 3 if sys.byteorder == "little" else 0  # where each float's top byte sits in memory
    with memoryview(values) as view, view.cast("B") as raw:
        for start in range(0, len(values), _CHECK_STRETCH):
            top_bytes = bytes(raw[FLOAT_BYTES * start : FLOAT_BYTES * (start + _CHECK_STRETCH)])[top::FLOAT_BYTES]
            if 1 in top_bytes.translate(_TOP_BYTE_MAY_BE_NON_FINITE):
                stretch = values[start : start + _CHECK_STRETCH]
                # A sum of float32s cannot overflow a float64, so it is finite exactly when they all are.
                if not math.isfinite(sum(stretch)):
                    return start + next(i for i, value in enumerate(stretch) if not math.isfinite(value))
    return None
