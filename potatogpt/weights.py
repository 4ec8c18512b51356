"""Reading a weights folder: a manifest plus one file of packed float32 numbers per tensor.

The format (described for people in weights/README.md) is deliberately dull, so that the loader
needs nothing but `array` and `json`:

    weights/124M/
        manifest.json           format version, hyper-parameters, and for every tensor its
                                name, shape, file, byte size and sha256
        wte.weight.f32          little-endian float32, row after row, no header
        h.0.ln_1.weight.f32
        ...
        vocab.json, merges.txt  the tokenizer (or encoder.json + vocab.bpe), when there is one

Matrices are stored [out, in]: row j holds every weight feeding output channel j, so a
matrix-vector product is a dot product of the input with each stored row, read in file order.
Hugging Face's GPT-2 stores those matrices [in, out] (its "Conv1D"); export.py transposes once,
at export time, so loading never has to.

Nothing here trusts the folder: every problem becomes a `WeightsError` whose message is one line
naming the file, what is wrong with it, and what to do about it.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import sys
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from .config import MODEL_SIZES, GPT2Config
from .safe_json import JSONProblem, parse_json
from .tokenizer import VOCAB_FILE_NAMES, Tokenizer

# Bump when a change to the layout means an old loader would misread a new folder (or the
# reverse); the loader refuses versions it does not know rather than guessing.
FORMAT_VERSION: int = 1
FORMAT_NAME = "potatogpt-weights"  # marks manifest.json as ours, not some other tool's
MANIFEST_NAME = "manifest.json"

FLOAT_BYTES = 4  # everything on disk is float32


class WeightsError(Exception):
    """A weights folder that cannot be used; the message is one line saying why and what to do."""


def missing_weights_hint(size: str) -> str:
    """The command that creates weights/<size>."""
    return f"python export_weights.py --model {size}"


# --- The tensors a GPT-2 has ------------------------------------------------------------------
# Per layer, in the order a forward pass meets them.  The shapes are as stored: [out, in] for
# matrices (see the module docstring), written in units of n_embd.
_LAYER_TENSORS: tuple[tuple[str, tuple[int, ...]], ...] = (
    # (suffix, shape in multiples of n_embd; a 1-tuple is a vector)
    ("ln_1.weight", (1,)),
    ("ln_1.bias", (1,)),
    ("attn.c_attn.weight", (3, 1)),
    ("attn.c_attn.bias", (3,)),
    ("attn.c_proj.weight", (1, 1)),
    ("attn.c_proj.bias", (1,)),
    ("ln_2.weight", (1,)),
    ("ln_2.bias", (1,)),
    ("mlp.c_fc.weight", (4, 1)),
    ("mlp.c_fc.bias", (4,)),
    ("mlp.c_proj.weight", (1, 4)),
    ("mlp.c_proj.bias", (1,)),
)
_LAYER_SHAPES: dict[str, tuple[int, ...]] = dict(_LAYER_TENSORS)
_LAYER_NAME = re.compile(r"h\.(0|[1-9][0-9]*)\.(.+)")


def tensor_count(config: GPT2Config) -> int:
    """len(tensor_names(config)), without building the list (a hostile n_layer may be 2**31)."""
    return 2 + len(_LAYER_TENSORS) * config.n_layer + 2


def parameter_count(config: GPT2Config) -> int:
    """How many numbers a GPT-2 of this config holds (124,439,808 for 124M), without listing
    its tensors (a hostile n_layer may be 2**31)."""
    per_layer = sum(math.prod(multiple * config.n_embd for multiple in multiples) for _, multiples in _LAYER_TENSORS)
    return (config.vocab_size + config.n_ctx) * config.n_embd + config.n_layer * per_layer + 2 * config.n_embd


def tensor_names(config: GPT2Config) -> list[str]:
    """Every tensor a GPT-2 of this config has, in file order (the order a forward pass reads)."""
    names = ["wte.weight", "wpe.weight"]
    for i in range(config.n_layer):
        names.extend(f"h.{i}.{suffix}" for suffix, _ in _LAYER_TENSORS)
    names.extend(["ln_f.weight", "ln_f.bias"])
    return names


def expected_shape(name: str, config: GPT2Config) -> tuple[int, ...]:
    """The shape `name` is stored with, for a GPT-2 of this config (matrices as [out, in])."""
    if name == "wte.weight":
        return (config.vocab_size, config.n_embd)
    if name == "wpe.weight":
        return (config.n_ctx, config.n_embd)
    if name in ("ln_f.weight", "ln_f.bias"):
        return (config.n_embd,)
    match = _LAYER_NAME.fullmatch(name)
    if match is not None and int(match[1]) < config.n_layer and match[2] in _LAYER_SHAPES:
        return tuple(multiple * config.n_embd for multiple in _LAYER_SHAPES[match[2]])
    raise WeightsError(f"{name!r} is not a tensor of a GPT-2 with {config.n_layer} layers")


def tensor_file_name(name: str) -> str:
    """The file a tensor is written to: its name plus a suffix that says what is inside."""
    return f"{name}.f32"


def check_config(config: GPT2Config, origin: str) -> None:
    """Refuse hyper-parameters no GPT-2 could have (they would make nonsense shapes later)."""
    for field in ("n_layer", "n_head", "n_embd", "n_ctx", "vocab_size"):
        value = getattr(config, field)
        if not 0 < value < 2**31:
            raise WeightsError(f"{origin}: {field} is {value}; it must be a positive whole number")
    if config.n_embd % config.n_head:
        raise WeightsError(f"{origin}: n_embd={config.n_embd} is not divisible by n_head={config.n_head}; "
                           "every attention head needs the same width")
    if not (math.isfinite(config.layer_norm_epsilon) and config.layer_norm_epsilon > 0):
        raise WeightsError(f"{origin}: layer_norm_epsilon is {config.layer_norm_epsilon}; it must be a positive number")


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


def is_plain_file_name(file: str) -> bool:
    """True for a name that stays inside its folder: no directories, no '..', not absolute.

    Checked with both POSIX and Windows rules, so a manifest written on one system cannot
    reach outside its folder on the other.
    """
    if file in ("", ".", "..") or "\x00" in file:
        return False
    return all(len(path.parts) == 1 and path.name == file for path in (PurePosixPath(file), PureWindowsPath(file)))


# --- The manifest -----------------------------------------------------------------------------
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


# --- Checking and reading the files -----------------------------------------------------------
def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_file(folder: Path, entry: FileEntry, verify_sha256: bool) -> None:
    path = folder / entry.file
    try:
        # A symlink could still lead out of the folder even with a plain name.
        # (os.path.realpath, unlike Path.resolve before Python 3.13, doesn't raise on a symlink loop.)
        if not Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder)):
            raise WeightsError(f"{path}: links outside the weights folder; refusing to read it")
        size = path.stat().st_size
    except FileNotFoundError:
        raise WeightsError(f"{path}: file is missing; the export is incomplete, re-run export_weights.py") from None
    except OSError as e:
        raise WeightsError(f"{path}: cannot be read ({e.strerror}); check its permissions") from None
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
            with path.open("rb") as f:
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
            data = path.read_bytes()
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
    if manifest_path.exists() and not manifest_path.is_file():  # a folder, or a pipe that would never end
        raise WeightsError(f"{manifest_path}: is not a regular file; re-create the folder with export_weights.py")
    try:
        text = manifest_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WeightsError(f"{manifest_path}: missing, so this is not a finished export; "
                           "re-run export_weights.py into this folder") from None
    except UnicodeDecodeError:
        raise WeightsError(f"{manifest_path}: not UTF-8 text; re-create the folder with export_weights.py") from None
    except OSError as e:
        raise WeightsError(f"{manifest_path}: cannot be read ({e.strerror})") from None
    manifest = parse_manifest(manifest_path, text)
    for tensor in manifest.tensors.values():
        _check_file(path, tensor.data, verify_sha256)
    for entry in manifest.tokenizer:
        _check_file(path, entry, verify_sha256)
    return Checkpoint(path, manifest)
