"""`--packed` weights kept on disk, so that quantizing happens once per weights folder, not per run.

Quantizing GPT-2 124M for `PackedWeight` takes ~40 s of Python (a few operations per weight);
reading the result back is a few large `int.from_bytes` calls per packed row, all in C, ~2 s.
So the first `--packed` run of a folder writes what it quantized to `packed.cache` next to
manifest.json, and later runs load that instead.

The file is a cache, never a source of truth:

* It is tied to the exact weights it came from: its header repeats, for every matrix, the file
  size and sha256 the manifest states, plus this module's format version and the kernel's field
  layout.  If any of them differ (a re-export, a new potatogpt), the cache is stale and is
  rebuilt.
* It is written to a temporary file and renamed into place, so a reader sees either the old
  complete file or the new complete one; two first runs racing each other both write whole files
  and the last rename wins.
* Every block of it carries a CRC-32: a damaged cache (truncated, a flipped bit) is noticed,
  reported in one line, and rebuilt.  Deleting it only costs the next run the quantizing time.
* A weights folder we may not write to (a shared, read-only classroom copy) gets its cache in the
  user's cache folder instead ($XDG_CACHE_HOME/potatogpt, else ~/.cache/potatogpt), named after
  the weights it belongs to.  If that fails too, the run goes on without a cache.

Layout: the body first, then the header, then a trailer, so that the writer can stream the body
while it quantizes and still put the checksums in the header:

    body     for each matrix: row_max (n_in x int64), then for each chunk of outputs its scales
             (width x float64) and its n_in packed rows (width * field_bytes bytes each, every
             field stored as q + 2**(F-1), i.e. non-negative), all little-endian
    header   UTF-8 JSON: version, layout, the sources, and each matrix's shape, chunks and CRCs
    trailer  header length (8 bytes, little-endian), the header's CRC-32 (4 bytes) and MAGIC
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import zlib
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..weights.byte_order import from_little_endian, little_endian
from ..weights.catalogue import matrix_names
from ..weights.checkpoint import Checkpoint
from ..weights.writer import replace_atomically
from ..weights.regular_files import open_for_reading
from .packed import CHUNK, FIELD_BYTES, WEIGHT_BITS, Chunk, PackedWeight, prepare_packed, replicate

CACHE_NAME = "packed.cache"
MAGIC = b"potatogpt-packed\n"
# Bump whenever the bytes written for the same weights would change meaning.
CACHE_VERSION = 1
_TRAILER = 8 + 4 + len(MAGIC)  # header length, header CRC-32, MAGIC


class CacheError(Exception):
    """A cache file that cannot be used; the message says why, in a few words."""


def _say(message: str) -> None:
    print(f"potatogpt: {message}", file=sys.stderr)


def _identity(checkpoint: Checkpoint) -> dict[str, object]:
    """Everything a cache must match to be used: what the header repeats."""
    sources = {}
    for name in matrix_names(checkpoint.config):
        entry = checkpoint.file_entry(name)
        sources[name] = {"bytes": entry.size, "sha256": entry.sha256}
    layout = {"field_bytes": FIELD_BYTES, "weight_bits": WEIGHT_BITS, "chunk": CHUNK}
    return {"version": CACHE_VERSION, "layout": layout, "sources": sources}


def cache_paths(checkpoint: Checkpoint) -> list[Path]:
    """Where a folder's cache may be, in the order they are tried: in the folder, then per user."""
    identity = json.dumps(_identity(checkpoint), sort_keys=True).encode()
    key = hashlib.sha256(identity).hexdigest()[:20]
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return [checkpoint.folder / CACHE_NAME, Path(base) / "potatogpt" / f"packed-{key}.cache"]


# --- Writing ----------------------------------------------------------------------------------
class _Writer:
    """Appends matrices to an open file, remembering what the header must say about them."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        self.matrices: list[dict[str, object]] = []

    def _block(self, data: bytes, crc: int = 0) -> int:
        """Write `data`; return the running CRC-32 that the header will hold for it."""
        self.f.write(data)
        return zlib.crc32(data, crc)

    def add(self, name: str, weight: PackedWeight) -> None:
        fb = weight.field_bytes
        chunks = []
        row_max_crc = self._block(little_endian(array("q", map(int, weight.row_max))))
        for chunk in weight.chunks:
            crc = self._block(little_endian(array("d", chunk.scales)))
            # Stored with the offset added back: every field is then non-negative, so the row is
            # an unsigned number of exactly fb * width bytes.  One to_bytes per row, a C loop each.
            for row in chunk.rows:
                crc = self._block((row + chunk.offset).to_bytes(fb * chunk.width, "little"), crc)
            chunks.append({"start": chunk.start, "width": chunk.width, "crc32": crc})
        self.matrices.append({"name": name, "n_in": weight.n_in, "n_out": weight.n_out,
                              "row_max_crc32": row_max_crc, "chunks": chunks})

    def finish(self, identity: dict[str, object]) -> None:
        header = json.dumps({**identity, "matrices": self.matrices}).encode()
        self.f.write(header + len(header).to_bytes(8, "little") + zlib.crc32(header).to_bytes(4, "little") + MAGIC)


def _write(path: Path, checkpoint: Checkpoint, weights: dict[str, PackedWeight]) -> None:
    """Write a complete cache to `path` atomically (temporary file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def contents(f: IO[bytes]) -> None:
        writer = _Writer(f)
        for name in matrix_names(checkpoint.config):
            writer.add(name, weights[name])
        writer.finish(_identity(checkpoint))

    replace_atomically(path, contents)


# --- Reading ----------------------------------------------------------------------------------
def _header(f: IO[bytes]) -> tuple[dict[str, Any], int]:
    """The header (checked against its CRC), and how many bytes of body come before it."""
    file_size = os.fstat(f.fileno()).st_size
    if file_size < _TRAILER:
        raise CacheError("too short to be a cache (truncated?)")
    f.seek(file_size - _TRAILER)
    trailer = f.read(_TRAILER)
    if trailer[12:] != MAGIC:
        raise CacheError("no end marker (truncated?)")
    length, crc = int.from_bytes(trailer[:8], "little"), int.from_bytes(trailer[8:12], "little")
    if length > file_size - _TRAILER:
        raise CacheError("header length past the start of the file")
    f.seek(file_size - _TRAILER - length)
    data = f.read(length)
    if zlib.crc32(data) != crc:
        raise CacheError("damaged header (its checksum does not match)")
    header: dict[str, Any] = json.loads(data)  # we wrote it, and the CRC says it is what we wrote
    return header, file_size - _TRAILER - length


def _matrix_bytes(n_in: int, n_out: int) -> int:
    """Body bytes of one matrix: row_max, then every output's scale and n_in fields."""
    return 8 * n_in + (8 + FIELD_BYTES * n_in) * n_out


def _checked_entries(f: IO[bytes], checkpoint: Checkpoint) -> list[dict[str, Any]]:
    """The header's matrix entries, in matrix_names order, once it is known to fit `checkpoint`."""
    header, body_size = _header(f)
    identity = _identity(checkpoint)
    if any(header.get(key) != value for key, value in identity.items()):
        raise CacheError("stale (made for other weights, or by another potatogpt version)")
    matrices: list[dict[str, Any]] = header["matrices"]
    names = matrix_names(checkpoint.config)
    if [m["name"] for m in matrices] != names:
        raise CacheError("header does not list this model's matrices")
    for entry, name in zip(matrices, names):
        if (entry["n_out"], entry["n_in"]) != checkpoint.shape(name):
            raise CacheError(f"{name} has the wrong shape")
    if body_size != sum(_matrix_bytes(m["n_in"], m["n_out"]) for m in matrices):
        raise CacheError("its size does not match its header (truncated?)")
    return matrices


def _read_exact(f: IO[bytes], size: int) -> bytes:
    data = f.read(size)
    if len(data) != size:
        raise CacheError("ends early (truncated)")
    return data


def _read_matrix(f: IO[bytes], entry: dict[str, Any]) -> PackedWeight:
    """One matrix, from where `f` stands.  Every row is one `int.from_bytes` (a C loop over its
    bytes) and one subtraction: a few calls per 4096 weights, never one per weight."""
    n_in, n_out = entry["n_in"], entry["n_out"]
    fb, bits = FIELD_BYTES, 8 * FIELD_BYTES
    data = _read_exact(f, 8 * n_in)
    if zlib.crc32(data) != entry["row_max_crc32"]:
        raise CacheError("damaged (a checksum does not match)")
    row_max: list[int] = from_little_endian(array("q"), data).tolist()
    packed_chunks = []
    for spec in entry["chunks"]:
        start, width = spec["start"], spec["width"]
        scales_data = _read_exact(f, 8 * width)
        rows_data = _read_exact(f, n_in * fb * width)
        if zlib.crc32(rows_data, zlib.crc32(scales_data)) != spec["crc32"]:
            raise CacheError("damaged (a checksum does not match)")
        offset = replicate(1 << (bits - 1), bits, width)
        size = fb * width
        view = memoryview(rows_data)
        rows = [int.from_bytes(view[k * size : (k + 1) * size], "little") - offset for k in range(n_in)]
        packed_chunks.append(Chunk(start, width, rows, offset, from_little_endian(array("d"), scales_data).tolist()))
    return PackedWeight(n_in, n_out, fb, WEIGHT_BITS, CHUNK, packed_chunks, row_max)


def read_cache(path: Path, checkpoint: Checkpoint, on_matrix: Callable[[str], None] | None = None
               ) -> dict[str, PackedWeight]:
    """Every matrix's PackedWeight from the cache at `path`.

    Raises FileNotFoundError if there is none, CacheError if it is stale or damaged.
    """
    with open_for_reading(path) as f:
        entries = _checked_entries(f, checkpoint)
        f.seek(0)
        weights = {}
        for name, entry in zip(matrix_names(checkpoint.config), entries):
            weights[name] = _read_matrix(f, entry)
            if on_matrix is not None:
                on_matrix(name)
    return weights


def read_cached_matrix(checkpoint: Checkpoint, name: str) -> PackedWeight | None:
    """One matrix from a valid cache, or None (no cache, stale, damaged): for --jobs workers,
    which each need a slice of every matrix (see packed.packed_shard)."""
    names = matrix_names(checkpoint.config)
    for path in cache_paths(checkpoint):
        try:
            with open_for_reading(path) as f:
                entries = _checked_entries(f, checkpoint)
                index = names.index(name)
                f.seek(sum(_matrix_bytes(e["n_in"], e["n_out"]) for e in entries[:index]))
                return _read_matrix(f, entries[index])
        except (OSError, CacheError):
            continue
    return None


def is_intact(checkpoint: Checkpoint) -> bool:
    """Whether the cache the --jobs processes will read (the first with a valid header) is whole:
    every block's CRC-32 checked, at C speed, without unpacking anything.  A damaged block would
    otherwise only make each process quietly quantize its shard again, run after run."""
    for path in cache_paths(checkpoint):
        try:
            f = open_for_reading(path)
        except OSError:
            continue
        with f:
            try:
                entries = _checked_entries(f, checkpoint)
            except (OSError, CacheError):
                continue  # not this one: the readers go on to the next place too
            try:
                f.seek(0)
                for entry in entries:
                    _verify_matrix(f, entry)
            except (OSError, CacheError):
                return False
            return True
    return False


def _verify_matrix(f: IO[bytes], entry: dict[str, Any]) -> None:
    """_read_matrix's checks, without building the matrix."""
    if zlib.crc32(_read_exact(f, 8 * entry["n_in"])) != entry["row_max_crc32"]:
        raise CacheError("damaged (a checksum does not match)")
    for spec in entry["chunks"]:
        crc = zlib.crc32(_read_exact(f, 8 * spec["width"]))
        if zlib.crc32(_read_exact(f, entry["n_in"] * FIELD_BYTES * spec["width"]), crc) != spec["crc32"]:
            raise CacheError("damaged (a checksum does not match)")


# --- The one entry point ----------------------------------------------------------------------
def packed_weights(checkpoint: Checkpoint, on_matrix: Callable[[str], None] | None = None,
                   say: Callable[[str], None] = _say) -> dict[str, PackedWeight]:
    """The PackedWeight of every matrix of `checkpoint`, by name: from its cache when that is
    valid, else quantized from the weights (prepare_packed) and then cached.

    `on_matrix(name)` is called as each matrix becomes ready (for a progress display); `say`
    gets the one-line notes (a damaged cache, a folder we cannot write to).
    """
    reported: set[str] = set()

    def ready(name: str) -> None:  # once per matrix, even if a cache fails halfway through
        if on_matrix is not None and name not in reported:
            reported.add(name)
            on_matrix(name)

    paths = cache_paths(checkpoint)
    for path in paths:
        try:
            return read_cache(path, checkpoint, ready)
        except (FileNotFoundError, NotADirectoryError):
            continue
        # A bad cache in a folder we can't write to is never replaced: the next place is tried,
        # where a good one may have been written instead.
        except CacheError as e:
            say(f"note: ignoring the packed cache {path}: {e}")
        except OSError as e:
            say(f"note: ignoring the packed cache {path}: cannot read it ({e.strerror})")
    weights = {}
    for name in matrix_names(checkpoint.config):
        n_out, n_in = checkpoint.shape(name)
        weights[name] = prepare_packed(checkpoint.read(name), n_in, n_out)
        ready(name)
    problems = []
    for path in paths:
        try:
            _write(path, checkpoint, weights)
            break
        except OSError as e:
            problems.append(f"{path.parent} ({e.strerror})")
    else:
        say(f"note: could not save the packed cache in {' or '.join(problems)}; "
            "the next --packed run will quantize again")
    return weights
