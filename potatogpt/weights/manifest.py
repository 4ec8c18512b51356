"""manifest.json: what a weights folder holds, validated completely before anything is read.

    weights/124M/
        manifest.json           format version, hyper-parameters, and for every tensor its
                                name, shape, file, byte size and sha256
        wte.weight.f32          little-endian float32, row after row, no header
        h.0.ln_1.weight.f32
        ...
        vocab.json, merges.txt  the tokenizer (or encoder.json + vocab.bpe), when there is one

Nothing here trusts the folder: every problem becomes a `WeightsError` whose message is one line
naming the file, what is wrong with it, and what to do about it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..config import GPT2Config
from .catalogue import FLOAT_BYTES, WeightsError, check_config, expected_shape, is_plain_file_name, tensor_count, tensor_names
from .safe_json import JSONProblem, parse_json
from .vocab_files import VOCAB_FILE_NAMES


# Bump when a change to the layout means an old loader would misread a new folder (or the
# reverse); the loader refuses versions it does not know rather than guessing.
FORMAT_VERSION: int = 1
FORMAT_NAME = "potatogpt-weights"  # marks manifest.json as ours, not some other tool's
MANIFEST_NAME = "manifest.json"


# json.load gives untyped data; these helpers narrow it one field at a time, so that every
# surprise in a hand-edited or damaged manifest is reported by name instead of crashing later.
class _ManifestReader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, problem: str) -> WeightsError:
        return WeightsError(f"{self.path}: {problem}; re-create the folder with export_weights.py")

    def field(self, obj: Mapping[str, object], key: str, where: str = "") -> object:
        if key not in obj:
            raise self.fail(f"{where}no {key!r} field")
        return obj[key]

    def integer(self, obj: Mapping[str, object], key: str, where: str = "") -> int:
        value = self.field(obj, key, where)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(f"{where}{key!r} is {value!r}, not a whole number")
        return value

    def number(self, obj: Mapping[str, object], key: str, where: str = "") -> float:
        value = self.field(obj, key, where)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise self.fail(f"{where}{key!r} is {value!r}, not a number")
        return float(value)

    def string(self, obj: Mapping[str, object], key: str, where: str = "") -> str:
        value = self.field(obj, key, where)
        if not isinstance(value, str):
            raise self.fail(f"{where}{key!r} is {value!r}, not a string")
        return value

    def obj(self, value: object, what: str) -> dict[str, object]:
        if not isinstance(value, dict):
            raise self.fail(f"{what} is not a JSON object")
        return {str(k): v for k, v in value.items()}

    def items(self, obj: Mapping[str, object], key: str) -> list[object]:
        value = self.field(obj, key)
        if not isinstance(value, list):
            raise self.fail(f"{key!r} is not a list")
        return list(value)


@dataclass(frozen=True)
class FileEntry:
    """One file the manifest promises: where it is, how long it is, what it hashes to."""

    file: str
    size: int
    sha256: str


@dataclass(frozen=True)
class TensorEntry:
    name: str
    shape: tuple[int, ...]
    data: FileEntry


@dataclass(frozen=True)
class Manifest:
    config: GPT2Config
    tensors: dict[str, TensorEntry]  # in file order
    tokenizer: list[FileEntry]


_SHA256 = re.compile(r"[0-9a-f]{64}")


def parse_manifest(path: Path, text: str) -> Manifest:
    """Validate manifest.json completely; the result can be trusted without further checks."""
    reader = _ManifestReader(path)
    try:
        raw = parse_json(text)
    except JSONProblem as e:
        raise reader.fail(str(e)) from None
    top = reader.obj(raw, "the manifest")
    if top.get("format") != FORMAT_NAME:
        raise WeightsError(f"{path}: not a potatogpt weights manifest (format is {top.get('format')!r}, "
                           f"expected {FORMAT_NAME!r}); export the checkpoint with export_weights.py")
    version = reader.integer(top, "format_version")
    if version != FORMAT_VERSION:
        raise WeightsError(f"{path}: format version {version}, but this potatogpt reads version {FORMAT_VERSION}; "
                           "re-export the weights with this version's export_weights.py")

    hp = reader.obj(reader.field(top, "config"), "'config'")
    config = GPT2Config(
        n_layer=reader.integer(hp, "n_layer", "config: "),
        n_head=reader.integer(hp, "n_head", "config: "),
        n_embd=reader.integer(hp, "n_embd", "config: "),
        n_ctx=reader.integer(hp, "n_ctx", "config: "),
        vocab_size=reader.integer(hp, "vocab_size", "config: "),
        layer_norm_epsilon=reader.number(hp, "layer_norm_epsilon", "config: "),
    )
    check_config(config, str(path))

    def file_entry(item: dict[str, object], where: str) -> FileEntry:
        file = reader.string(item, "file", where)
        if not is_plain_file_name(file):
            raise WeightsError(f"{path}: {where}file name {file!r} points outside the weights folder; "
                               "refusing to read it (re-export the weights)")
        size = reader.integer(item, "bytes", where)
        sha256 = reader.string(item, "sha256", where)
        if not _SHA256.fullmatch(sha256):
            raise reader.fail(f"{where}sha256 {sha256!r} is not 64 lowercase hex digits")
        return FileEntry(file, size, sha256)

    listed = reader.items(top, "tensors")
    # Checked before anything is built from the hyper-parameters, which could claim 2**31 layers;
    # smaller gaps are named precisely below.
    if tensor_count(config) > 2 * len(listed):
        raise reader.fail(f"a GPT-2 with n_layer={config.n_layer} has {tensor_count(config)} tensors, "
                          f"but {len(listed)} are listed")
    tensors: dict[str, TensorEntry] = {}
    for index, value in enumerate(listed):
        item = reader.obj(value, f"tensors[{index}]")
        name = reader.string(item, "name", f"tensors[{index}]: ")
        where = f"tensor {name!r}: "
        if name in tensors:
            raise reader.fail(f"tensor {name!r} is listed twice")
        shape_value = reader.field(item, "shape", where)
        if not isinstance(shape_value, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape_value):
            raise reader.fail(f"{where}shape {shape_value!r} is not a list of whole numbers")
        shape = tuple(int(d) for d in shape_value)
        try:
            want = expected_shape(name, config)
        except WeightsError:
            raise WeightsError(f"{path}: lists {name!r}, which a GPT-2 with {config.n_layer} layers does not have; "
                               "re-export the weights") from None
        if shape != want:
            raise WeightsError(f"{path}: {name} has shape {list(shape)} but the hyper-parameters imply {list(want)}; "
                               "re-export the weights")
        data = file_entry(item, where)
        if data.size != FLOAT_BYTES * math.prod(shape):
            raise reader.fail(f"{where}'bytes' is {data.size} but shape {list(shape)} of float32 needs "
                              f"{FLOAT_BYTES * math.prod(shape)}")
        tensors[name] = TensorEntry(name, shape, data)

    missing = [name for name in tensor_names(config) if name not in tensors]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise WeightsError(f"{path}: tensor {missing[0]!r}{more} missing from the manifest; re-export the weights")

    tokenizer = [file_entry(reader.obj(value, f"tokenizer[{i}]"), f"tokenizer[{i}]: ")
                 for i, value in enumerate(reader.items(top, "tokenizer"))]
    tokenizer_files = [entry.file for entry in tokenizer]
    if tokenizer_files and sorted(tokenizer_files) not in [sorted(pair) for pair in VOCAB_FILE_NAMES]:
        names = " or ".join(f"{a} + {b}" for a, b in VOCAB_FILE_NAMES)
        raise reader.fail(f"the tokenizer files listed are {tokenizer_files}, not one of the pairs {names}")
    files = [entry.data.file for entry in tensors.values()] + [entry.file for entry in tokenizer]
    duplicated = sorted({f for f in files if files.count(f) > 1})
    if duplicated:
        raise reader.fail(f"file {duplicated[0]!r} is listed for more than one entry")
    return Manifest(config, tensors, tokenizer)

