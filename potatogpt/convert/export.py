"""Turning a Hugging Face GPT-2 checkpoint into a potatogpt weights folder.

    python export_weights.py --model 124M                      # download, then convert
    python export_weights.py --from ~/gpt2-local --out weights/mine

Three jobs, in order (hf_checkpoint.py does the first, weights/writer.py the third):

1. Check that the checkpoint really is a GPT-2 whose shapes agree with its config.json, before
   writing anything.  Two naming layouts exist: the hub's original files use bare names
   (`wte.weight`, `h.0.attn.c_attn.weight`) and also carry the causal-mask buffers
   `h.N.attn.bias` / `h.N.attn.masked_bias`, which are not parameters and are skipped; files
   saved by recent transformers prefix everything with `transformer.` and may add
   `lm_head.weight`, which must equal `wte.weight` (GPT-2 ties them) since we store only one.
2. Convert tensor by tensor, so memory holds one tensor at a time, never the checkpoint:
   widen F16/BF16 to float32, and transpose the four Conv1D matrices per layer from
   Hugging Face's [in, out] to the [out, in] the model reads (see weights/catalogue.py).
3. Write atomically: everything goes into a fresh `<out>.tmp-XXXX` folder, manifest.json last,
   and only a finished folder is renamed to `<out>`.  A crash leaves a stray .tmp folder, never
   an `<out>` that looks complete but isn't.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import IO

from ..config import MODEL_SIZES, GPT2Config
from ..weights.catalogue import WeightsError, parameter_count
from ..weights.checkpoint import open_checkpoint
from ..weights.writer import FolderError, refuse_to_replace, write_float32, write_folder
from . import download
from .hf_checkpoint import (
    TRANSPOSED,
    ExportError,
    check_tied_head,
    find_tokenizer,
    locate_checkpoint,
    plan_tensors,
    read_hf_config,
)
from .safetensors import SafetensorsError, SafetensorsFile

__all__ = ["ExportError", "convert", "export_model"]

DEFAULT_BASE_URL = download.DEFAULT_BASE_URL

# The files --model fetches from the hub: the weights, their config, and the tokenizer.
HUB_FILES = ("config.json", "vocab.json", "merges.txt", "model.safetensors")


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
        try:
            refuse_to_replace(out)
        except FolderError as e:
            raise ExportError(str(e)) from None
    config = read_hf_config(config_path)
    try:
        with SafetensorsFile(model_path) as st:
            names, lm_head = plan_tensors(st, config)
            tokenizer = find_tokenizer(model_path.parent, config)
            if lm_head is not None:
                check_tied_head(st, names["wte.weight"], lm_head)
            return write_folder(lambda name, path: write_tensor(st, names[name], name, path, config), config,
                                tokenizer, out, source_label=str(model_path))
    except SafetensorsError as e:
        raise ExportError(str(e), files=[model_path]) from None
    except FolderError as e:
        raise ExportError(str(e)) from None


def write_tensor(st: SafetensorsFile, file_name: str, name: str, path: Path, config: GPT2Config) -> dict[str, object]:
    """Write one checkpoint tensor in our orientation: a Conv1D matrix is transposed from Hugging
    Face's [in, out] to the [out, in] the model reads; everything else is copied in pieces."""
    if name.endswith(TRANSPOSED):
        n_in, n_out = st.tensors[file_name].shape
        values = st.read_float32(file_name)  # one matrix in memory; the largest is 4 x n_embd^2
        # Stored row j (output j) is column j of the [in, out] matrix: every n_out-th value
        # starting at j.  A strided slice picks it out at C speed.
        return write_float32((values[j::n_out] for j in range(n_out)), name, path, config)
    return write_float32(st.iter_float32(file_name), name, path, config)


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
        bad = [path for path in e.files if path.parent == cache]
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


