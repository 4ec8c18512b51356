"""A training run's state, and DIR's files: what `--resume` needs to continue bit for bit.

    DIR/                 a weights folder (manifest.json, float32 tensors, the tokenizer), plus
        log.jsonl        one JSON object per step (loss, lr, gradient norm, seconds) and per evaluation
        training/        the state: params.f64, exp_avg.f64, exp_avg_sq.f64 (float64, tensor after
                         tensor in manifest order), tokens.u32 (the training then the held-out ids),
                         state.json (the step, the settings, the batches' and the sampler's states)

Everything is written through weights/writer.py, so a save is whole or not there at all.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import train
from ..api import load
from ..config import GPT2Config
from ..dataset import Batches, DataError
from ..model import Params
from ..tokenizer import Tokenizer, TokenizerError
from ..weights import regular_files
from ..weights.byte_order import from_little_endian, little_endian
from ..weights.catalogue import WeightsError, tensor_names
from ..weights.checkpoint import open_checkpoint
from ..weights.safe_json import JSONProblem, parse_json
from ..weights.writer import FolderError, write_float32, write_folder
from .options import CLIError

STATE_FOLDER = "training"
STATE_FORMAT = "potatogpt-training"
STATE_VERSION = 1
LOG_NAME = "log.jsonl"


@dataclass
class Settings:
    """The run's hyper-parameters: what `--resume` restores (the command line's, or their defaults)."""

    steps: int = 400
    batch_size: int = 4
    lr: float = 3e-3
    min_lr: float = 3e-4
    warmup: int = 30
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 100
    eval_batches: int = 8
    sample_every: int = 100
    seed: int = 0
    block_size: int = 64


SHAPE_DEFAULTS = {"n_layer": 2, "n_head": 4, "n_embd": 32}
# Fine-tuning a real GPT-2 costs about a minute per token of a row on 124M: one row a step.
FROM_BATCH_SIZE = 1



# --- A run's state ------------------------------------------------------------------------------
@dataclass
class Run:
    settings: Settings
    config: GPT2Config
    params: Params
    tokenizer: Tokenizer
    tokenizer_files: list[Path]  # copied into every save
    tokens: list[int]  # the training text's ids, then the held-out text's
    n_train: int
    opt: train.AdamW
    batches: Batches  # the training rows, from a seeded generator whose state is saved
    sample_rng: random.Random
    source: str
    step: int = 0
    log: list[dict[str, object]] = field(default_factory=list)
    resume_point: dict[str, object] = field(default_factory=dict)  # the batches' state after the last whole step

    def __post_init__(self) -> None:
        self.resume_point = self.batches.state()

    @property
    def train_ids(self) -> list[int]:
        return self.tokens[: self.n_train]

    @property
    def val_ids(self) -> list[int]:
        return self.tokens[self.n_train :]


def training_batches(tokens: list[int], n_train: int, settings: Settings) -> Batches:
    return Batches(tokens[:n_train], settings.block_size, seed=settings.seed, what="the training split")


def make_optimizer(params: Params, settings: Settings) -> train.AdamW:
    return train.AdamW(params, lr=settings.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=settings.weight_decay)


# --- Saving and resuming ------------------------------------------------------------------------
def save(run: Run, out: Path) -> None:
    """Write `out` as a weights folder (float32) with the float64 training state beside it, atomically.

    One tensor is copied out at a time (a model the size of 124M has 124M numbers in each of the
    parameters and the two moments: copies of all of them at once would double the memory)."""
    parameters = {p.name: p for p in train.parameters(run.params)}
    names = tensor_names(run.config)

    def tensor(name: str, path: Path) -> dict[str, object]:
        return write_float32([array("d", parameters[name].read())], name, path, run.config)

    def state(folder: Path) -> None:
        (folder / STATE_FOLDER).mkdir()
        write_floats(folder / STATE_FOLDER / "params.f64", (parameters[n].read() for n in names))
        write_floats(folder / STATE_FOLDER / "exp_avg.f64", (run.opt.exp_avg[n] for n in names))
        write_floats(folder / STATE_FOLDER / "exp_avg_sq.f64", (run.opt.exp_avg_sq[n] for n in names))
        (folder / STATE_FOLDER / "tokens.u32").write_bytes(little_endian(array("I", run.tokens)))
        document = {
            "format": STATE_FORMAT, "format_version": STATE_VERSION, "step": run.step,
            "optimizer_steps": run.opt.steps, "settings": asdict(run.settings), "n_train": run.n_train,
            "source": run.source, "batches": run.resume_point, "sample_rng": rng_state(run.sample_rng),
        }
        write_text(folder / STATE_FOLDER / "state.json", json.dumps(document, indent=1) + "\n")
        write_text(folder / LOG_NAME, "".join(json.dumps(entry) + "\n" for entry in run.log))

    try:
        write_folder(tensor, run.config, run.tokenizer_files, out, source_label=run.source, extra=state)
    except FolderError as e:
        raise CLIError(str(e)) from None


def write_floats(path: Path, vectors: Iterable[Sequence[float]]) -> None:
    """Float64 numbers, little-endian, one vector after another."""
    with path.open("wb") as f:
        for vector in vectors:
            f.write(little_endian(vector if isinstance(vector, array) else array("d", vector)))
        f.flush()
        os.fsync(f.fileno())


def write_text(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def rng_state(rng: random.Random) -> list[object]:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def restore_rng(state: object, where: Path) -> random.Random:
    rng = random.Random()
    try:
        assert isinstance(state, list) and len(state) == 3 and isinstance(state[1], list)
        rng.setstate((state[0], tuple(state[1]), state[2]))
    except (AssertionError, TypeError, ValueError):
        raise CLIError(f"{where}: a random generator's state is damaged; the run cannot continue exactly") from None
    return rng


def resume(args: argparse.Namespace) -> Run:
    folder: Path = args.resume
    state_path = folder / STATE_FOLDER / "state.json"
    try:
        model = load(folder)
    except (WeightsError, TokenizerError) as e:
        raise CLIError(str(e)) from None
    try:
        document = parse_json(regular_files.read_bytes(state_path))
    except FileNotFoundError:
        raise CLIError(f"{folder}: not a training run (no {STATE_FOLDER}/state.json); start one with "
                       f"`python -m potatogpt train ... --out {folder}`") from None
    except (OSError, JSONProblem) as e:
        raise CLIError(f"{state_path}: cannot be read ({e}); the run cannot continue") from None
    if not isinstance(document, dict) or document.get("format") != STATE_FORMAT or \
            document.get("format_version") != STATE_VERSION:
        raise CLIError(f"{state_path}: not a potatogpt training state this version can read")
    try:
        settings = Settings(**document["settings"])
        step, n_train, optimizer_steps = int(document["step"]), int(document["n_train"]), int(document["optimizer_steps"])
    except (KeyError, TypeError, ValueError):
        raise CLIError(f"{state_path}: damaged (its settings or step cannot be read)") from None
    if args.steps is not None:
        settings.steps = args.steps
    config, params = model.config, model.params
    names = tensor_names(config)
    parameters = {p.name: p for p in train.parameters(params)}
    sizes = [len(parameters[n].read()) for n in names]
    saved = read_floats(folder / STATE_FOLDER / "params.f64", sizes)
    for name, values in zip(names, saved):
        parameters[name].write(values)
    opt = make_optimizer(params, settings)
    opt.load_state({"step": optimizer_steps,
                    "exp_avg": dict(zip(names, read_floats(folder / STATE_FOLDER / "exp_avg.f64", sizes))),
                    "exp_avg_sq": dict(zip(names, read_floats(folder / STATE_FOLDER / "exp_avg_sq.f64", sizes)))})
    tokens_path = folder / STATE_FOLDER / "tokens.u32"
    try:
        tokens: list[int] = from_little_endian(array("I"), regular_files.read_bytes(tokens_path)).tolist()
    except (OSError, ValueError) as e:
        raise CLIError(f"{tokens_path}: cannot be read ({e}); the run cannot continue") from None
    if not 0 < n_train < len(tokens) or max(tokens) >= config.vocab_size:
        raise CLIError(f"{tokens_path}: damaged (its tokens do not fit this model); the run cannot continue")
    batches = training_batches(tokens, n_train, settings)
    try:
        batches.restore(document.get("batches"))
    except DataError as e:
        raise CLIError(f"{state_path}: {e}; the run cannot continue exactly") from None
    run = Run(settings, config, params, model.tokenizer, open_checkpoint(folder).tokenizer_files(), tokens, n_train,
              opt, batches, restore_rng(document.get("sample_rng"), state_path), str(document.get("source", "")), step)
    run.log = read_log(folder / LOG_NAME)
    return run


def read_floats(path: Path, sizes: Sequence[int]) -> list[list[float]]:
    try:
        data = regular_files.read_bytes(path)
    except OSError as e:
        raise CLIError(f"{path}: cannot be read ({e.strerror}); the run cannot continue") from None
    if len(data) != 8 * sum(sizes):
        raise CLIError(f"{path}: {len(data)} bytes, but this model's state needs {8 * sum(sizes)}; the run cannot continue")
    values = from_little_endian(array("d"), data)
    out, start = [], 0
    for size in sizes:
        out.append(values[start : start + size].tolist())
        start += size
    return out


def read_log(path: Path) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = []
    try:
        lines = regular_files.read_bytes(path).decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return entries
    for line in lines:
        try:
            entry = parse_json(line)
        except JSONProblem:
            continue
        if isinstance(entry, dict):
            entries.append({str(k): v for k, v in entry.items()})
    return entries
