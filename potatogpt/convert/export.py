"""Turning a Hugging Face GPT-2 checkpoint into a potatogpt weights folder.

    python export_weights.py --model 124M                      # download, then convert
    python export_weights.py --from ~/gpt2-local --out weights/mine

Three jobs, in order:

1. Check that the checkpoint really is a GPT-2 whose shapes agree with its config.json, before
   writing anything.  Two naming layouts exist: the hub's original files use bare names
   (`wte.weight`, `h.0.attn.c_attn.weight`) and also carry the causal-mask buffers
   `h.N.attn.bias` / `h.N.attn.masked_bias`, which are not parameters and are skipped; files
   saved by recent transformers prefix everything with `transformer.` and may add
   `lm_head.weight`, which must equal `wte.weight` (GPT-2 ties them) since we store only one.
2. Convert tensor by tensor, so memory holds one tensor at a time, never the checkpoint:
   widen F16/BF16 to float32, and transpose the four Conv1D matrices per layer from
   Hugging Face's [in, out] to the [out, in] the model reads (see weights.py).
3. Write atomically: everything goes into a fresh `<out>.tmp-XXXX` folder, manifest.json last,
   and only a finished folder is renamed to `<out>`.  A crash leaves a stray .tmp folder, never
   an `<out>` that looks complete but isn't.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import IO, NoReturn

from . import download
from ..config import MODEL_SIZES, GPT2Config
from ..console import exit_status, finish_output, termination_signals_interrupt
from ..safe_json import JSONProblem, parse_json
from ..tokenizer import DATA_DIR, GPT2_VOCAB_SIZE, VOCAB_FILE_NAMES, Tokenizer, TokenizerError
from .safetensors import FLOAT_DTYPES, SafetensorsError, SafetensorsFile
from ..weights import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST_NAME,
    WeightsError,
    check_config,
    expected_shape,
    open_checkpoint,
    parameter_count,
    tensor_count,
    tensor_file_name,
    tensor_names,
)

DEFAULT_BASE_URL = download.DEFAULT_BASE_URL
BUNDLED_DATA = DATA_DIR  # the GPT-2 vocabulary that ships with potatogpt

# The files --model fetches from the hub: the weights, their config, and the tokenizer.
HUB_FILES = ("config.json", "vocab.json", "merges.txt", "model.safetensors")

# Hugging Face's Conv1D keeps these as [in, out]; we store [out, in].
TRANSPOSED = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
# Non-parameter buffers in the hub's original files: the causal mask and its fill value.
_BUFFER = re.compile(r"h\.(\d+)\.attn\.(bias|masked_bias)")

# Activation functions that are GPT-2's tanh approximation of GELU under another name.
GPT2_ACTIVATIONS = ("gelu_new", "gelu_pytorch_tanh")


class ExportError(Exception):
    """An export that cannot go ahead; the message is one line: the file, the problem, the fix."""


# --- Reading config.json ----------------------------------------------------------------------
def read_hf_config(path: Path) -> GPT2Config:
    """GPT-2's hyper-parameters from a Hugging Face config.json, refusing anything else."""
    if not path.exists():
        raise ExportError(f"{path}: missing; a Hugging Face checkpoint needs its config.json beside "
                          "model.safetensors")
    raw = _read_json(path, "download the checkpoint's config.json again")
    if not isinstance(raw, dict):
        raise ExportError(f"{path}: not a JSON object; this is not a Hugging Face config.json")
    hf: dict[str, object] = {str(k): v for k, v in raw.items()}

    def refuse(problem: str) -> ExportError:
        return ExportError(f"{path}: {problem}; only GPT-2 checkpoints can be converted")

    model_type = hf.get("model_type", "gpt2")
    if model_type != "gpt2":
        raise refuse(f"model_type is {model_type!r}, not 'gpt2'")

    def integer(*keys: str) -> int:
        for key in keys:
            value = hf.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if value is not None:
                raise refuse(f"{key} is {value!r}, not a whole number")
        raise refuse(f"no {keys[0]!r}")

    n_embd = integer("n_embd")
    epsilon = hf.get("layer_norm_epsilon", 1e-5)
    if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool):
        raise refuse(f"layer_norm_epsilon is {epsilon!r}, not a number")
    config = GPT2Config(n_layer=integer("n_layer"), n_head=integer("n_head"), n_embd=n_embd,
                        n_ctx=integer("n_positions", "n_ctx"), vocab_size=integer("vocab_size"),
                        layer_norm_epsilon=float(epsilon))
    # Settings that would change the computation rather than the shapes.
    activation = hf.get("activation_function", "gelu_new")
    if activation not in GPT2_ACTIVATIONS:
        raise refuse(f"activation_function is {activation!r}; GPT-2 uses 'gelu_new'")
    n_inner = hf.get("n_inner")
    if n_inner is not None and n_inner != 4 * n_embd:
        raise refuse(f"n_inner is {n_inner!r}; GPT-2's MLP is 4 x n_embd = {4 * n_embd} wide")
    for key, gpt2_value in (("scale_attn_weights", True), ("scale_attn_by_inverse_layer_idx", False),
                            ("add_cross_attention", False)):
        if hf.get(key, gpt2_value) != gpt2_value:
            raise refuse(f"{key} is {hf[key]!r}; GPT-2 has {gpt2_value}")
    try:
        check_config(config, str(path))
    except WeightsError as e:
        raise ExportError(str(e)) from None
    return config


# --- Finding the files ------------------------------------------------------------------------
def locate_checkpoint(source: Path) -> tuple[Path, Path]:
    """(model.safetensors, config.json) for a checkpoint folder or the .safetensors file itself."""
    if source.is_dir():
        model = source / "model.safetensors"
        if not model.is_file():
            if (source / "model.safetensors.index.json").is_file():
                raise ExportError(f"{source}: holds a sharded checkpoint (model.safetensors.index.json); "
                                  "GPT-2 fits in one file, use a single model.safetensors")
            if (source / "pytorch_model.bin").is_file():
                raise ExportError(f"{source}: has only pytorch_model.bin; potatogpt reads safetensors, "
                                  "download model.safetensors for this model")
            raise ExportError(f"{source}: no model.safetensors in this folder; point --from at a Hugging Face "
                              "GPT-2 checkpoint folder or at its .safetensors file")
        return model, source / "config.json"
    if source.is_file():
        return source, source.parent / "config.json"
    raise ExportError(f"{source}: no such file or folder; point --from at a Hugging Face GPT-2 checkpoint")


def find_tokenizer(folder: Path, config: GPT2Config) -> list[Path]:
    """The tokenizer files to copy: the checkpoint's own, else the bundled GPT-2 ones when the
    vocabulary is GPT-2's, else none (small test models have no text tokenizer)."""
    for encoder, merges in VOCAB_FILE_NAMES:
        encoder_path, merges_path = folder / encoder, folder / merges
        if encoder_path.is_file() and merges_path.is_file():
            _check_vocabulary(encoder_path, merges_path, config)
            return [encoder_path, merges_path]
        if encoder_path.is_file() or merges_path.is_file():
            present, absent = (encoder_path, merges) if encoder_path.is_file() else (merges_path, encoder)
            raise ExportError(f"{present}: found without {absent} beside it; copy both tokenizer files or neither")
    if config.vocab_size == GPT2_VOCAB_SIZE:
        return [BUNDLED_DATA / "encoder.json", BUNDLED_DATA / "vocab.bpe"]
    return []


def _read_json(path: Path, advice: str) -> object:
    """A JSON file's contents, or an ExportError saying what is wrong and `advice`."""
    try:
        return parse_json(path.read_bytes())
    except JSONProblem as e:
        raise ExportError(f"{path}: {e}; {advice}") from None
    except OSError as e:
        raise ExportError(f"{path}: cannot be read ({e.strerror})") from None


def _check_vocabulary(encoder: Path, merges: Path, config: GPT2Config) -> None:
    """Read the tokenizer as loading will, so that no export carries one that can't be used."""
    try:
        tokenizer = Tokenizer.from_contents(encoder, encoder.read_bytes(), merges, merges.read_bytes(),
                                            origin=str(encoder.parent))
    except TokenizerError as e:
        raise ExportError(str(e)) from None
    except OSError as e:
        raise ExportError(f"{e.filename}: cannot be read ({e.strerror})") from None
    if tokenizer.vocab_size != config.vocab_size:
        raise ExportError(f"{encoder}: has {tokenizer.vocab_size} tokens but config.json says vocab_size="
                          f"{config.vocab_size}; the tokenizer belongs to another model")


# --- Checking the checkpoint's tensors --------------------------------------------------------
def hf_shape(name: str, config: GPT2Config) -> tuple[int, ...]:
    """The shape Hugging Face stores `name` with: ours, except Conv1D matrices are [in, out]."""
    shape = expected_shape(name, config)
    return shape[::-1] if name.endswith(TRANSPOSED) else shape


def plan_tensors(st: SafetensorsFile, config: GPT2Config) -> tuple[dict[str, str], str | None]:
    """Map every GPT-2 tensor name to the name it has in the file, and find lm_head if any.

    Refuses (ExportError) missing or unexpected tensors, wrong shapes and unconvertible dtypes.
    """
    # Before anything is built from config.json's numbers (which could claim 2**31 layers), a
    # rough check against what the file holds: each number takes at least 2 bytes (F16, BF16),
    # and a file with less than half the tensors is another model.  Smaller gaps are named
    # precisely below.
    data_bytes = sum(info.nbytes for info in st.tensors.values())
    if tensor_count(config) > 2 * len(st.tensors) or 2 * parameter_count(config) > data_bytes:
        raise ExportError(f"{st.path}: holds {len(st.tensors)} tensors in {data_bytes} bytes, but config.json "
                          f"(n_layer={config.n_layer}, n_embd={config.n_embd}, n_ctx={config.n_ctx}, "
                          f"vocab_size={config.vocab_size}) describes {tensor_count(config)} tensors of "
                          f"{parameter_count(config)} numbers; the config.json belongs to another model")
    wanted = set(tensor_names(config))
    found: dict[str, str] = {}  # our name -> name in the file
    lm_head: str | None = None
    unexpected: list[str] = []
    for file_name in st.tensors:
        name = file_name.removeprefix("transformer.")
        buffer = _BUFFER.fullmatch(name)
        if buffer is not None and int(buffer[1]) < config.n_layer:
            continue  # the causal mask is rebuilt by the model, not loaded
        if name == "lm_head.weight":
            lm_head = file_name
        elif name in wanted and name not in found:
            found[name] = file_name
        else:
            unexpected.append(file_name)

    def listing(names: list[str]) -> str:
        return repr(names[0]) + (f" and {len(names) - 1} more" if len(names) > 1 else "")

    shape_note = (f"n_layer={config.n_layer}, n_embd={config.n_embd}, n_ctx={config.n_ctx}, "
                  f"vocab_size={config.vocab_size}")
    if unexpected:
        raise ExportError(f"{st.path}: unexpected tensor {listing(unexpected)}, which a GPT-2 with {shape_note} "
                          "does not have; this is not a GPT-2 checkpoint, or its config.json belongs to another model")
    missing = [name for name in tensor_names(config) if name not in found]
    if missing:
        raise ExportError(f"{st.path}: tensor {listing(missing)} missing, but config.json ({shape_note}) needs it; "
                          "the checkpoint is incomplete or its config.json belongs to another model")
    checks = [(name, found[name]) for name in tensor_names(config)]
    if lm_head is not None:
        checks.append(("wte.weight", lm_head))
    for name, file_name in checks:
        info = st.tensors[file_name]
        want = hf_shape(name, config)
        if info.shape != want:
            raise ExportError(f"{st.path}: {file_name} has shape {list(info.shape)} but config.json ({shape_note}) "
                              f"implies {list(want)}; the config.json belongs to another model")
        if info.dtype not in FLOAT_DTYPES:
            raise ExportError(f"{st.path}: {file_name} is {info.dtype}; only {', '.join(FLOAT_DTYPES)} "
                              "checkpoints can be converted")
    return found, lm_head


def check_tied_head(st: SafetensorsFile, wte: str, lm_head: str) -> None:
    """GPT-2's output layer is its token embedding; a checkpoint where they differ isn't GPT-2."""
    pieces = zip(st.iter_float32(wte), st.iter_float32(lm_head))
    # Compare bytes rather than floats, so a NaN in both (bit-identical) still counts as equal.
    if not all(a.tobytes() == b.tobytes() for a, b in pieces):
        raise ExportError(f"{st.path}: {lm_head} differs from {wte}; GPT-2 ties its output layer to the "
                          "token embedding, and potatogpt stores only one of them")


# --- Writing ----------------------------------------------------------------------------------
class _HashingWriter:
    """A file that keeps a running sha256 and byte count of what is written to it."""

    def __init__(self, f: IO[bytes]) -> None:
        self.file, self.sha256, self.size = f, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.sha256.update(data)
        self.size += len(data)


def _little_endian(values: array[float]) -> bytes:
    if sys.byteorder == "big":
        values = array("f", values)
        values.byteswap()
    return values.tobytes()


def write_tensor(st: SafetensorsFile, file_name: str, name: str, path: Path,
                 config: GPT2Config) -> dict[str, object]:
    """Write one tensor as little-endian float32, transposed if it is a Conv1D matrix."""
    with path.open("wb") as f:
        out = _HashingWriter(f)
        if name.endswith(TRANSPOSED):
            n_in, n_out = st.tensors[file_name].shape
            values = st.read_float32(file_name)  # one matrix in memory; the largest is 4 x n_embd^2
            # Stored row j (output j) is column j of the [in, out] matrix: every n_out-th value
            # starting at j.  A strided slice picks it out at C speed.
            for j in range(n_out):
                out.write(_little_endian(values[j::n_out]))
        else:  # already in our orientation: copy through in pieces, whatever the size
            for piece in st.iter_float32(file_name):
                out.write(_little_endian(piece))
        f.flush()
        os.fsync(f.fileno())
    return {"name": name, "shape": list(expected_shape(name, config)), "file": path.name,
            "bytes": out.size, "sha256": out.sha256.hexdigest()}


def copy_file(source: Path, destination: Path) -> dict[str, object]:
    """Copy a tokenizer file, recording what the manifest needs to check it later."""
    with source.open("rb") as src, destination.open("wb") as f:
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


def convert(source: str | os.PathLike[str], out: str | os.PathLike[str], *, replace: bool = False) -> Path:
    """Convert a local Hugging Face GPT-2 checkpoint (folder or .safetensors file) into `out`.

    Refuses to touch an existing `out` unless `replace`; even then the old folder is removed
    only after the new one is complete.
    """
    source, out = Path(source), Path(out)
    model_path, config_path = locate_checkpoint(source)
    if out.exists() or out.is_symlink():
        if not replace:
            raise ExportError(f"{out}: already exists; remove it, choose another --out, or pass --force to replace it")
        refuse_to_replace(out)
    config = read_hf_config(config_path)
    try:
        with SafetensorsFile(model_path) as st:
            names, lm_head = plan_tensors(st, config)
            tokenizer = find_tokenizer(model_path.parent, config)
            if lm_head is not None:
                check_tied_head(st, names["wte.weight"], lm_head)
            return _write_folder(st, names, config, tokenizer, out, source_label=str(model_path))
    except SafetensorsError as e:
        raise ExportError(str(e)) from None


def refuse_to_replace(out: Path) -> None:
    """--force replaces an earlier export or an empty folder, and nothing else.

    Whatever else is at `out` (a file, a device, a link, somebody's folder of photos) was not
    made by us, and deleting it because of a mistyped --out would lose data.
    """
    what = _what_is_at(out)
    if what is not None:
        raise ExportError(f"{out}: is {what}, not a potatogpt weights folder; --force only replaces an earlier "
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
        manifest = parse_json((out / MANIFEST_NAME).read_bytes())
    except (OSError, JSONProblem):
        return "a folder without a readable potatogpt manifest.json"
    if isinstance(manifest, dict) and manifest.get("format") == FORMAT_NAME:
        return None
    return "a folder whose manifest.json is not potatogpt's"


def _make_staging_folder(out: Path) -> Path:
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


def _write_folder(st: SafetensorsFile, names: dict[str, str], config: GPT2Config, tokenizer: list[Path],
                  out: Path, source_label: str) -> Path:
    try:
        staging = _make_staging_folder(out)
    except OSError as e:
        raise ExportError(f"cannot create a folder beside {out} ({e.strerror}); check the path and permissions") from None
    try:
        tensors = [write_tensor(st, names[name], name, staging / tensor_file_name(name), config)
                   for name in tensor_names(config)]
        tokenizer_entries = [copy_file(path, staging / path.name) for path in tokenizer]
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
        _install(staging, out)
    except BaseException as e:  # including Ctrl-C: leave no half-written folder behind
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(e, OSError):
            where = e.filename if e.filename is not None else out.parent
            raise ExportError(f"export to {out} failed: {where}: {e.strerror}; nothing was written "
                              "(free some space, fix the permissions, or choose another --out)") from None
        if isinstance(e, WeightsError):
            raise ExportError(f"the exported folder does not read back ({e}); this is a bug in export.py") from None
        raise
    return out


def _install(staging: Path, out: Path) -> None:
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


# --- Downloading and converting an official size ----------------------------------------------
def default_output(size: str) -> Path:
    return Path("weights") / size


def default_cache(out: Path, size: str) -> Path:
    """Where --model keeps downloaded files until conversion succeeds: weights/.download/<size>/."""
    return out.parent / ".download" / size


def is_complete(folder: Path) -> bool:
    """Whether `folder` is a finished export (manifest and every file of the right size)."""
    try:
        open_checkpoint(folder)
    except WeightsError:
        return False
    return True


def export_model(size: str, out: Path | None = None, *, base_url: str = DEFAULT_BASE_URL,
                 cache: Path | None = None, keep_download: bool = False, stream: IO[str] | None = None) -> Path:
    """Download the official GPT-2 `size` from the hub and convert it into `out` (weights/<size>).

    Does nothing if `out` already holds a complete export.  Downloads go to `cache`
    (weights/.download/<size>/ by default), which is deleted after a successful conversion
    unless `keep_download`; an interrupted download stays there and resumes next time.
    """
    if size not in MODEL_SIZES:
        raise ExportError(f"unknown model size {size!r}; choose one of {', '.join(MODEL_SIZES)}")
    out = default_output(size) if out is None else Path(out)
    if is_complete(out):
        return out
    if out.exists() or out.is_symlink():
        raise ExportError(f"{out}: exists but is not a complete export; remove it and run again")
    cache = default_cache(out, size) if cache is None else Path(cache)
    try:
        announce_download(size, base_url, out, stream or sys.stderr)
        download.fetch(base_url, download.HUB_REPOS[size], HUB_FILES, cache, stream=stream)
    except download.DownloadError as e:
        raise ExportError(str(e)) from None
    print(f"converting {cache / 'model.safetensors'} into {out}", file=stream or sys.stderr)
    try:
        convert(cache, out)
    except ExportError as e:
        # A downloaded file that fails here would otherwise be trusted forever (downloads skip
        # files already there), and "download it again" could never happen: remove it.
        bad = [cache / file for file in HUB_FILES if str(cache / file) in str(e)]
        for path in bad:
            path.unlink(missing_ok=True)
        if bad:
            raise ExportError(f"{e} (the downloaded {', '.join(p.name for p in bad)} was removed: "
                              "run the same command again to download it afresh)") from None
        raise
    if not keep_download:
        shutil.rmtree(cache, ignore_errors=True)
        try:
            cache.parent.rmdir()  # weights/.download, if nothing else is in it
        except OSError:
            pass
    return out


def announce_download(size: str, base_url: str, out: Path, stream: IO[str]) -> None:
    """Say what is about to be fetched, from where, how big, and where it will live, before any
    large transfer starts (the size comes from the server: one HEAD request)."""
    repo = download.HUB_REPOS[size]
    try:
        remote_size = download.probe(download.file_url(base_url, repo, "model.safetensors"), timeout=download.TIMEOUT).size
    except download.DownloadError:
        return  # the download itself fails on its first file and says why, in one line
    weights = "model.safetensors" + (f" ({download.human_bytes(remote_size)})" if remote_size is not None else "")
    others = ", ".join(f for f in HUB_FILES if f != "model.safetensors")
    converted = download.human_bytes(4 * parameter_count(MODEL_SIZES[size]))
    print(f"downloading GPT-2 {size} from {base_url.rstrip('/')}/{repo}: {weights} and {others}; "
          f"it will be converted into {out} ({converted})", file=stream)
    stream.flush()


# --- Command line -----------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would print the whole usage; one line is easier to read and to test.
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="export_weights.py",
        description="Convert a Hugging Face GPT-2 checkpoint into potatogpt's weights folder "
                    "(see weights/README.md).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", choices=list(MODEL_SIZES),
                        help="download this official size from the hub and convert it into weights/<MODEL>")
    source.add_argument("--from", dest="source", type=Path, metavar="PATH",
                        help="convert a local checkpoint: a folder with model.safetensors and config.json, "
                             "or the .safetensors file itself")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="where to write the weights folder (default with --model: weights/<MODEL>)")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, metavar="URL",
                        help=f"where to download from (default {DEFAULT_BASE_URL})")
    parser.add_argument("--force", action="store_true", help="with --from: replace an existing --out folder")
    parser.add_argument("--keep-download", action="store_true",
                        help="with --model: keep the downloaded files in weights/.download/<MODEL>/ after converting")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with termination_signals_interrupt():  # a `kill` cleans up like Ctrl-C
            done = _run(args)
    except ExportError as e:
        print(f"export_weights.py: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print("export_weights.py: interrupted; nothing was left half-written (a partial download resumes "
              "on the next run)", file=sys.stderr)
        return exit_status(e)
    problem = finish_output(done + "\n")
    if problem is not None:
        print(f"export_weights.py: error: {problem}; the export itself finished: {done}", file=sys.stderr)
        return 1
    return 0


def _run(args: argparse.Namespace) -> str:
    """Do what the command line asks; the sentence to print when it is done."""
    if args.model is not None:
        out = args.out if args.out is not None else default_output(args.model)
        if is_complete(out):
            return f"{out} is already complete; nothing to do"
        export_model(args.model, out, base_url=args.base_url, keep_download=args.keep_download)
    else:
        if args.out is None:
            build_parser().error("--from needs --out DIR")
        out = convert(args.source, args.out, replace=args.force)
    return f"wrote {out}"
