"""Reading a weights folder: a manifest plus one file of packed float32 numbers per tensor.

The format (described for people in weights/README.md) is deliberately dull, so that the loader
needs nothing but `array` and `json`; see manifest.py for what the manifest holds and
catalogue.py for the tensors.  Every problem is a one-line `WeightsError`.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
from array import array
from pathlib import Path

from ..config import MODEL_SIZES, GPT2Config
from ..tokenizer import Tokenizer
from .catalogue import FLOAT_BYTES, WeightsError, missing_weights_hint, tensor_names
from .integrity import check_file, first_non_finite
from .manifest import MANIFEST_NAME, FileEntry, Manifest, TensorEntry, parse_manifest
from .regular_files import NotARegularFile, open_for_reading, read_bytes
from .vocab_files import VOCAB_FILE_NAMES


def check_vocab_size(config: GPT2Config, tokenizer: Tokenizer, folder: Path, *, own: bool) -> None:
    """The model scores exactly the tokenizer's tokens, or loading stops here in one line.

    A model with more rows than its tokenizer has tokens (nanoGPT pads GPT-2's 50257 to 50304)
    could choose an id that no text stands for.  The one allowance: a folder without a
    tokenizer of its `own` (the tiny test models) gets GPT-2's, and may have fewer rows.
    """
    if config.vocab_size == tokenizer.vocab_size or (not own and config.vocab_size < tokenizer.vocab_size):
        return
    raise WeightsError(f"{folder}: the model has {config.vocab_size} token rows but its tokenizer ({tokenizer.origin}) "
                       f"has {tokenizer.vocab_size} tokens; they must be the same vocabulary (export the model "
                       "with its own tokenizer files)")


class Checkpoint:
    """An opened weights folder whose manifest and file sizes have been checked."""

    def __init__(self, folder: Path, manifest: Manifest) -> None:
        self.folder = folder
        self.config = manifest.config
        self._manifest = manifest

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.folder)!r}, {self.config})"

    def shape(self, name: str) -> tuple[int, ...]:
        return self._entry(name).shape

    def file_entry(self, name: str) -> FileEntry:
        """The tensor's file as the manifest states it (name, size, sha256): what a cache
        derived from it is tied to, and how many bytes reading it takes."""
        return self._entry(name).data

    def read(self, name: str) -> array[float]:
        """The tensor's numbers, row after row, as float32 in this machine's byte order."""
        entry = self._entry(name)
        path = self.folder / entry.data.file
        count = math.prod(entry.shape)
        values = array("f")
        if values.itemsize != FLOAT_BYTES:  # array('f') is a C float, which is 32 bits everywhere we run
            raise WeightsError(f"array('f') holds {values.itemsize}-byte floats here; potatogpt needs 4-byte floats")
        try:
            with open_for_reading(path) as f:
                values.fromfile(f, count)  # straight from disk into the array, no bytes copy
                if f.read(1):
                    raise WeightsError(f"{path}: too long (more than the {entry.data.size} bytes the manifest says); "
                                       "the file changed since it was opened, re-run export_weights.py")
        except (EOFError, ValueError):  # ValueError: it ends partway through a float
            raise WeightsError(f"{path}: truncated (shorter than the {entry.data.size} bytes the manifest says); "
                               "the file changed since it was opened, re-run export_weights.py") from None
        except FileNotFoundError:
            raise WeightsError(f"{path}: file is missing; re-run export_weights.py") from None
        except OSError as e:
            raise WeightsError(f"{path}: cannot be read ({e.strerror})") from None
        if sys.byteorder == "big":
            values.byteswap()  # the files are little-endian, whatever machine wrote them
        bad = first_non_finite(values)
        if bad is not None:
            raise WeightsError(f"{path}: value {bad} is {values[bad]} (of {len(values)} values); the weights are "
                               "damaged: re-export them, and check the checkpoint they came from")
        return values

    def tokenizer_files(self) -> list[Path]:
        """The tokenizer files the manifest lists (none: the model uses GPT-2's bundled vocabulary)."""
        return [self.folder / entry.file for entry in self._manifest.tokenizer]

    def has_tokenizer(self) -> bool:
        """Whether the folder carries its own tokenizer files (else use the bundled GPT-2 one)."""
        return bool(self._manifest.tokenizer)

    def tokenizer(self) -> Tokenizer:
        """The tokenizer the manifest lists, byte for byte as it lists it; GPT-2's own if it lists none.

        Only listed files are read: an encoder.json dropped into the folder later is ignored.
        What is read is checked against the manifest's size and sha256 before it is used (the
        files are small, so this costs milliseconds even without verify_sha256).
        """
        by_name = {entry.file: entry for entry in self._manifest.tokenizer}  # a known pair (see parse_manifest)
        if not by_name:
            tokenizer = Tokenizer.gpt2()
        else:
            encoder_name, merges_name = next(pair for pair in VOCAB_FILE_NAMES if pair[0] in by_name)
            tokenizer = Tokenizer.from_contents(self.folder / encoder_name, self._read_listed(by_name[encoder_name]),
                                                self.folder / merges_name, self._read_listed(by_name[merges_name]),
                                                origin=str(self.folder))
        check_vocab_size(self.config, tokenizer, self.folder, own=bool(by_name))
        return tokenizer

    def _read_listed(self, entry: FileEntry) -> bytes:
        path = self.folder / entry.file
        try:
            data = read_bytes(path)
        except OSError as e:
            raise WeightsError(f"{path}: cannot be read ({e.strerror}); re-run export_weights.py") from None
        actual = hashlib.sha256(data).hexdigest()
        if len(data) != entry.size or actual != entry.sha256:
            raise WeightsError(f"{path}: is not the file the manifest lists ({len(data)} bytes, sha256 {actual[:12]}...; "
                               f"the manifest says {entry.size} bytes, {entry.sha256[:12]}...); re-run export_weights.py")
        return data

    def _entry(self, name: str) -> TensorEntry:
        entry = self._manifest.tensors.get(name)
        if entry is None:
            raise WeightsError(f"{self.folder}: has no tensor {name!r} (a GPT-2 with "
                               f"{self.config.n_layer} layers has {tensor_names(self.config)[0]!r} .. "
                               f"{tensor_names(self.config)[-1]!r})")
        return entry


def _missing_folder_message(folder: Path) -> str:
    if folder.name in MODEL_SIZES:
        command = missing_weights_hint(folder.name)
        if folder != Path("weights") / folder.name:
            command += f" --out {folder}"
    else:
        command = f"{missing_weights_hint('124M')} --out {folder}"
    return f"{folder}: no such weights folder; create it with `{command}`"


def open_checkpoint(folder: str | os.PathLike[str], *, verify_sha256: bool = False) -> Checkpoint:
    """Open a folder written by export_weights.py, checking everything that is cheap to check.

    Every file's size is compared with the manifest now, so a damaged folder fails here, in one
    line, rather than halfway through loading.  `verify_sha256` also hashes every byte, which
    catches silent corruption but reads the whole folder once more.
    """
    path = Path(folder)
    if not path.is_dir():
        if path.exists():
            raise WeightsError(f"{path}: is a file, not a weights folder; pass the folder that holds manifest.json")
        raise WeightsError(_missing_folder_message(path))
    manifest_path = path / MANIFEST_NAME
    try:
        text = read_bytes(manifest_path).decode("utf-8")
    except NotARegularFile as e:  # a folder, or a pipe that would never end
        raise WeightsError(f"{manifest_path}: is not a regular file ({e.strerror}); "
                           "re-create the folder with export_weights.py") from None
    except FileNotFoundError:
        raise WeightsError(f"{manifest_path}: missing, so this is not a finished export; "
                           "re-run export_weights.py into this folder") from None
    except UnicodeDecodeError:
        raise WeightsError(f"{manifest_path}: not UTF-8 text; re-create the folder with export_weights.py") from None
    except OSError as e:
        raise WeightsError(f"{manifest_path}: cannot be read ({e.strerror})") from None
    manifest = parse_manifest(manifest_path, text)
    for tensor in manifest.tensors.values():
        check_file(path, tensor.data, verify_sha256)
    for entry in manifest.tokenizer:
        check_file(path, entry, verify_sha256)
    return Checkpoint(path, manifest)
