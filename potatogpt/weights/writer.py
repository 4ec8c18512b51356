"""Writing a weights folder so that a crash never leaves one that looks complete.

Everything goes into a fresh `<out>.tmp-XXXX` folder, tensor by tensor (memory holds one tensor
at a time, never the whole model), manifest.json last; only a finished folder is renamed to
`<out>`, and an old folder there is removed only after the new one is in place.  The exporter
(convert/export.py) writes tensors read from a Hugging Face checkpoint, training writes its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from array import array
from pathlib import Path
from collections.abc import Callable, Iterable
from typing import IO

from ..config import GPT2Config
from .byte_order import little_endian
from .catalogue import WeightsError, expected_shape, tensor_file_name, tensor_names
from .checkpoint import open_checkpoint
from .manifest import FORMAT_NAME, FORMAT_VERSION, MANIFEST_NAME
from .regular_files import open_for_reading, read_bytes
from .safe_json import JSONProblem, parse_json

# Writes tensor `name` (float32, stored shape, file order) to the path given; returns its manifest entry.
TensorWriter = Callable[[str, Path], dict[str, object]]


class FolderError(Exception):
    """A weights folder that cannot be written; the message is one line: where, what, what to do."""


class _HashingWriter:
    """A file that keeps a running sha256 and byte count of what is written to it."""

    def __init__(self, f: IO[bytes]) -> None:
        self.file, self.sha256, self.size = f, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.sha256.update(data)
        self.size += len(data)


def write_float32(chunks: Iterable[array[float]], name: str, path: Path, config: GPT2Config) -> dict[str, object]:
    """Write one tensor, given as runs of floats in file order, as little-endian float32; return
    its manifest entry."""
    with path.open("wb") as f:
        out = _HashingWriter(f)
        for values in chunks:
            out.write(little_endian(values if values.typecode == "f" else array("f", values)))
        f.flush()
        os.fsync(f.fileno())
    return {"name": name, "shape": list(expected_shape(name, config)), "file": path.name,
            "bytes": out.size, "sha256": out.sha256.hexdigest()}


def copy_file(source: Path, destination: Path) -> dict[str, object]:
    """Copy a tokenizer file, recording what the manifest needs to check it later."""
    with open_for_reading(source) as src, destination.open("wb") as f:
        out = _HashingWriter(f)
        for block in iter(lambda: src.read(1 << 20), b""):
            out.write(block)
        f.flush()
        os.fsync(f.fileno())
    return {"file": destination.name, "bytes": out.size, "sha256": out.sha256.hexdigest()}


def _write_json(path: Path, value: object) -> None:
    with path.open("w", encoding="utf-8") as f:
        json.dump(value, f, indent=1)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make a rename inside `folder` durable (a no-op where folders can't be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def refuse_to_replace(out: Path) -> None:
    """--force replaces an earlier export or an empty folder, and nothing else.

    Whatever else is at `out` (a file, a device, a link, somebody's folder of photos) was not
    made by us, and deleting it because of a mistyped --out would lose data.
    """
    what = _what_is_at(out)
    if what is not None:
        raise FolderError(f"{out}: is {what}, not a potatogpt weights folder; --force only replaces an earlier "
                          "export or an empty folder, so remove it yourself or choose another --out")


def _what_is_at(out: Path) -> str | None:
    """None for a folder --force may replace, else a description of what is there."""
    try:
        if out.is_symlink():
            return "a symbolic link"
        if not out.is_dir():
            return "a file" if out.is_file() else "not a regular file or folder"
        if not any(out.iterdir()):
            return None
        if not (out / MANIFEST_NAME).is_file():  # (a pipe by that name would never finish reading)
            return "a folder without a readable potatogpt manifest.json"
        manifest = parse_json(read_bytes(out / MANIFEST_NAME))
    except (OSError, JSONProblem):
        return "a folder without a readable potatogpt manifest.json"
    if isinstance(manifest, dict) and manifest.get("format") == FORMAT_NAME:
        return None
    return "a folder whose manifest.json is not potatogpt's"


def make_staging_folder(out: Path) -> Path:
    """A new, empty `<out>.tmp-XXXXXXXX` beside `out`, with the permissions the umask gives.

    (tempfile.mkdtemp would make it readable by its owner only, and the finished export keeps
    the staging folder's permissions: students could not read the teacher's weights.)
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    while True:
        staging = out.parent / f"{out.name}.tmp-{secrets.token_hex(4)}"
        try:
            staging.mkdir()
            return staging
        except FileExistsError:
            continue


def write_folder(write_tensor: TensorWriter, config: GPT2Config, tokenizer: list[Path], out: Path, source_label: str,
                 *, extra: Callable[[Path], None] | None = None) -> Path:
    """Write every tensor of a GPT-2 of this config with `write_tensor`, copy the tokenizer files,
    let `extra(staging_folder)` add files of its own (training's state), write the manifest, and
    only then give the folder its name `out` (replacing what is there: check that first)."""
    try:
        staging = make_staging_folder(out)
    except OSError as e:
        raise FolderError(f"cannot create a folder beside {out} ({e.strerror}); check the path and permissions") from None
    try:
        tensors = [write_tensor(name, staging / tensor_file_name(name)) for name in tensor_names(config)]
        tokenizer_entries = [copy_file(path, staging / path.name) for path in tokenizer]
        if extra is not None:
            extra(staging)
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "config": {"n_layer": config.n_layer, "n_head": config.n_head, "n_embd": config.n_embd,
                       "n_ctx": config.n_ctx, "vocab_size": config.vocab_size,
                       "layer_norm_epsilon": config.layer_norm_epsilon},
            "dtype": "float32, little-endian",
            "source": source_label,
            "tensors": tensors,
            "tokenizer": tokenizer_entries,
        }
        _write_json(staging / MANIFEST_NAME, manifest)  # last: its presence marks a finished export
        open_checkpoint(staging, verify_sha256=False)  # read back what we wrote, as the model will
        _fsync_folder(staging)
        install(staging, out)
    except BaseException as e:  # including Ctrl-C: leave no half-written folder behind
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(e, OSError):
            where = e.filename if e.filename is not None else out.parent
            raise FolderError(f"writing {out} failed: {where}: {e.strerror}; nothing was written "
                              "(free some space, fix the permissions, or choose another --out)") from None
        if isinstance(e, WeightsError):
            raise FolderError(f"the folder written does not read back ({e}); this is a bug in potatogpt") from None
        raise
    return out


def install(staging: Path, out: Path) -> None:
    """Give the finished folder its name; an old folder there is moved aside, then removed."""
    old: Path | None = None
    if out.exists() or out.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f"{out.name}.old-", dir=out.parent))
        os.replace(out, old / out.name)
    try:
        os.replace(staging, out)
    except OSError:
        if old is not None:  # put the old folder back: never lose what was there
            os.replace(old / out.name, out)
            old.rmdir()
        raise
    _fsync_folder(out.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def replace_atomically(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Give `path` the contents `write(f)` writes, whole or not at all: into a temporary file beside
    it, flushed to disk, then renamed over it (a reader sees the old file or the new one, never
    half of one; a failure leaves the old file as it was)."""
    fd, temporary = tempfile.mkstemp(prefix=f"{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the weights beside it are not
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """`path` holding exactly `data`, written as replace_atomically writes."""

    def contents(f: IO[bytes]) -> None:
        f.write(data)

    replace_atomically(path, contents)
