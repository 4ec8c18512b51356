"""What every command shares: its one-line errors, the argument types, the model options and loading.

`generate.py` (the default command), `look.py` (the instruments) and the others declare their own
arguments and call `add_model_options` for the ones that pick and load a model, so that every
command spells --model, --weights and the storage flags the same way.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..api import GPT2, STORAGE_FLAGS, STORAGES, load
from ..config import MODEL_SIZES, GPT2Config
from ..fast import packed_cache
from ..tokenizer import TokenizerError
from ..weights.catalogue import WeightsError, missing_weights_hint
from ..weights.checkpoint import Checkpoint, open_checkpoint
from . import memory
from .console import one_line
from .progress import LoadProgress

OFFLINE_VARIABLE = "POTATOGPT_OFFLINE"  # set it (e.g. behind a classroom proxy) to never download
# 2**64 - 1 has 20 digits, 2**128 - 1 has 39: seeds people use fit; anything longer is a slip of
# the keyboard (and int() of thousands of digits is slow, then refused past 4300).
MAX_DIGITS = 40
MAX_MESSAGE = 2000  # characters of an error line: enough for two paths and the advice


class CLIError(Exception):
    """A problem to report in one line, with a non-zero exit."""


# --- Reporting without a traceback, whatever state stdout and stderr are in ---------------------
def say(message: str) -> None:
    try:
        print(message, file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):  # no terminal left (SIGHUP) or stderr closed
        pass


def error(message: str) -> int:
    # The last guard of the one-line promise: whatever text from outside a message carries.
    say(f"potatogpt: error: {one_line(message, MAX_MESSAGE)}")
    return 1


# --- Argument types ---------------------------------------------------------------------------
def whole_number(text: str) -> int:
    """int(text), refusing numbers too long to mean anything."""
    digits = text.strip().lstrip("+-").replace("_", "")
    if len(digits) > MAX_DIGITS:
        raise argparse.ArgumentTypeError(f"{one_line(text, 20)} is {len(digits)} digits long; no setting needs "
                                          f"more than {MAX_DIGITS}")
    return int(text)


def seed_number(text: str) -> int:
    return whole_number(text)


def non_negative_int(text: str) -> int:
    value = whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def positive_int(text: str) -> int:
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, not {text}")
    return value


def probability(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], not {text}")
    return value


# --- The model options ------------------------------------------------------------------------
def add_model_options(parser: argparse.ArgumentParser, *, speed: bool = True) -> None:
    """--model, --weights, downloading and (with `speed`) the storage, --jobs and the memory check.

    Without `speed` the command always loads exact weights in one process (the instruments).
    """
    parser.add_argument("--model", choices=list(MODEL_SIZES), default="124M",
                        help="which GPT-2: weights are read from weights/<MODEL> (default 124M)")
    parser.add_argument("--weights", type=Path, default=None, metavar="DIR",
                        help="read the weights from DIR instead (overrides --model)")
    parser.add_argument("--offline", action="store_true",
                        help=f"never download: if weights/<MODEL> is missing, say how to make it "
                             f"(or set {OFFLINE_VARIABLE}=1)")
    parser.add_argument("--download", action="store_true",
                        help="(the default now: missing weights/<MODEL> is downloaded and exported first)")
    parser.add_argument("--base-url", default=None, metavar="URL",
                        help="where missing weights are downloaded from (default: the Hugging Face hub)")
    if not speed:
        parser.set_defaults(storage="exact", jobs=1, skip_memory_check=False)
        return
    group = parser.add_argument_group("speed and memory (the storage: how the weights are held)")
    storage = group.add_mutually_exclusive_group()
    storage.add_argument("--storage", choices=STORAGES, default="exact",
                         help="exact (the default), compact, packed or reference; or one of the flags below")
    storage.add_argument("--packed", dest="storage", action="store_const", const="packed",
                         help="fixed-point weights: about 1.7x faster and 4x smaller, float32-like accuracy")
    storage.add_argument("--compact", "--low-memory", dest="storage", action="store_const", const="compact",
                         help="keep weights as float32 arrays: exact, about 8x smaller, about 4x slower "
                              "(--low-memory is its old name)")
    storage.add_argument("--reference", dest="storage", action="store_const", const="reference",
                         help="no speed tricks: plain lists and the textbook product of tensor.py, "
                              "the code you read is the code that runs (slow: seconds per token on 124M)")
    group.add_argument("--jobs", "-j", type=positive_int, default=1, metavar="N",
                       help="split the matrix products across N processes (use your free cores)")
    group.add_argument("--skip-memory-check", action="store_true",
                       help="load even if the model looks too big for the memory available")


def check_model_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse combinations add_model_options' flags cannot make sense of (argparse's usage error)."""
    if args.storage == "reference" and args.jobs > 1:
        parser.error("--reference runs in one process, with no kernels: drop --jobs")


def weights_folder(args: argparse.Namespace) -> Path:
    folder: Path = args.weights if args.weights is not None else Path("weights") / args.model
    return folder


def downloads_allowed(args: argparse.Namespace) -> bool:
    """--offline, or OFFLINE_VARIABLE set to anything but 0, keeps potatogpt off the network."""
    return not args.offline and os.environ.get(OFFLINE_VARIABLE, "") in ("", "0")


def load_model(args: argparse.Namespace) -> GPT2:
    """The model the options name, loaded with a progress line; a missing weights/<MODEL> is
    downloaded and exported first unless downloads are off."""
    folder = weights_folder(args)
    if not (folder / "manifest.json").is_file():
        if args.weights is not None:  # a folder named by hand is never downloaded into
            raise CLIError(f"no weights in {folder} (no manifest.json): point --weights at a folder written by export_weights.py")
        if not downloads_allowed(args):
            raise CLIError(f"no weights in {folder}: create them with `{missing_weights_hint(args.model)}` "
                           f"(downloading is off: --offline or {OFFLINE_VARIABLE} is set)")
        check_memory(args, MODEL_SIZES[args.model], folder)  # before a download, not after it
        from ..convert.export import ExportError, export_model  # only needed on this path

        try:
            kwargs = {} if args.base_url is None else {"base_url": args.base_url}
            export_model(args.model, folder, **kwargs)
        except ExportError as e:
            raise CLIError(str(e)) from None
    try:
        checkpoint = open_checkpoint(folder)
        check_memory(args, checkpoint.config, folder)
        display = LoadProgress(describe_load(folder, args, checkpoint), sys.stderr)
        try:
            model = load(folder, storage=args.storage, jobs=args.jobs, progress=display)
        except BaseException:
            display.abandon()  # the error message goes on a line of its own
            raise
        display.finish()
        return model
    except (WeightsError, TokenizerError) as e:
        raise CLIError(str(e)) from None


def check_memory(args: argparse.Namespace, config: GPT2Config, folder: Path) -> None:
    if not args.skip_memory_check:
        problem = memory.refusal(config, args.storage, args.jobs, memory.available_bytes())
        if problem is not None:
            raise CLIError(f"{folder}: {problem}")


def describe_load(folder: Path, args: argparse.Namespace, checkpoint: Checkpoint) -> str:
    mode = f" {STORAGE_FLAGS[args.storage]}" if STORAGE_FLAGS[args.storage] else ""
    if args.storage == "reference":
        mode += " (the plain arithmetic, no speed tricks: seconds per token on 124M)"
    jobs = f" --jobs {args.jobs}" if args.jobs > 1 else ""
    what = f"loading {folder}{mode}{jobs}"
    if args.storage == "packed" and not any(p.is_file() for p in packed_cache.cache_paths(checkpoint)):
        what += " (first use: quantizing, then saving packed.cache so that later loads take seconds)"
    return what
