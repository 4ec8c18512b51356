"""`python -m potatogpt train [TEXT ...] --out DIR`: GPT-2 that learns, from the command line.

    python -m potatogpt train --out weights/mine             # the standard library's docs, from scratch
    python -m potatogpt train notes/ --vocab-size 512 --out weights/notes
    python -m potatogpt train poems.txt --from weights/124M --out weights/poet --steps 20
    python -m potatogpt train --resume weights/mine            # continue exactly where it stopped
    python -m potatogpt gradcheck weights/mine                  # backward.py against finite differences

The learning itself is potatogpt/train.py (the loss, its gradients, AdamW, the schedule); this
module is what turns it into a run (run_state.py keeps and restores its state, gradcheck.py is the
other command): the data, the status line, the held-out loss and a sample
every --eval-every steps, the log, the curves at the end, and a weights folder written so that
nothing is ever half there.  DIR is an ordinary weights folder (manifest.json, one float32 file
per tensor, the tokenizer) plus `log.jsonl` and `training/`, the float64 state `--resume` needs:
parameters, both AdamW moments, the step, the tokens and both random generators.

A Ctrl-C (or SIGTERM) stops after the step under way has been applied whole, saves DIR, and exits
130 (143).  Continuing with `--resume DIR` then gives the very losses, bit for bit, of a run that
was never interrupted.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from .. import train
from ..api import GPT2, load
from ..config import GPT2Config
from ..dataset import Batches, DataError, prepare, read_corpus
from ..learn_bpe import byte_level, learn_vocabulary, write_tokenizer_files
from ..tokenizer import EOT_TEXT, TokenizerError
from ..weights.catalogue import WeightsError, check_config
from ..weights.checkpoint import open_checkpoint
from ..weights.writer import FolderError, refuse_to_replace
from . import memory
from .console import exit_status, interrupts_deferred
from .curves import plot
from .options import CLIError, non_negative_float, non_negative_int, positive_int, say, seed_number
from .progress import ProgressLine
from .run_state import FROM_BATCH_SIZE, SHAPE_DEFAULTS, Run, Settings, make_optimizer, resume, save, training_batches

SAMPLE_TOKENS = 48  # the length of the sample shown at each evaluation

# --- The command line ---------------------------------------------------------------------------
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="potatogpt train", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train GPT-2 from scratch on TEXT (or fine-tune a weights folder with --from), "
                    "writing a weights folder that every other command reads.",
        epilog=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("text", nargs="*", type=Path, metavar="TEXT",
                        help="UTF-8 files, or folders of .txt/.md/.py files (default: the documentation "
                             "strings of Python's own standard library, which every installation has)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="the weights folder to write")
    parser.add_argument("--force", action="store_true", help="replace an earlier weights folder at --out")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--from", dest="source", type=Path, default=None, metavar="DIR",
                       help="fine-tune this weights folder (its tokenizer and shape are kept)")
    start.add_argument("--resume", type=Path, default=None, metavar="DIR",
                       help="continue the run saved in DIR exactly (DIR is also where it is saved)")
    shape = parser.add_argument_group("the model's shape (from scratch)")
    shape.add_argument("--n-layer", type=positive_int, default=None, help=f"blocks (default {SHAPE_DEFAULTS['n_layer']})")
    shape.add_argument("--n-head", type=positive_int, default=None, help=f"attention heads (default {SHAPE_DEFAULTS['n_head']})")
    shape.add_argument("--n-embd", type=positive_int, default=None,
                       help=f"channels of the residual stream (default {SHAPE_DEFAULTS['n_embd']})")
    shape.add_argument("--block-size", type=positive_int, default=None,
                       help=f"tokens per training row, and the context (default {defaults.block_size})")
    shape.add_argument("--vocab-size", type=positive_int, default=None, metavar="N",
                       help="learn a byte-level BPE of N tokens from the text (default: bytes only, 257 tokens)")
    run = parser.add_argument_group("the run")
    run.add_argument("--steps", type=positive_int, default=None, help=f"optimizer steps (default {defaults.steps})")
    run.add_argument("--batch-size", type=positive_int, default=None, help=f"rows per step (default {defaults.batch_size})")
    run.add_argument("--lr", type=non_negative_float, default=None, help=f"peak learning rate (default {defaults.lr})")
    run.add_argument("--min-lr", type=non_negative_float, default=None,
                     help=f"the cosine decay's floor (default {defaults.min_lr})")
    run.add_argument("--warmup", type=non_negative_int, default=None,
                     help=f"steps of linear warmup (default {defaults.warmup})")
    run.add_argument("--weight-decay", type=non_negative_float, default=None,
                     help=f"AdamW's decay of matrices and embeddings (default {defaults.weight_decay})")
    run.add_argument("--grad-clip", type=non_negative_float, default=None,
                     help=f"clip the gradients' global norm to this; 0 turns it off (default {defaults.grad_clip})")
    run.add_argument("--eval-every", type=positive_int, default=None,
                     help=f"steps between held-out losses (default {defaults.eval_every})")
    run.add_argument("--eval-batches", type=positive_int, default=None,
                     help=f"batches of the held-out text per evaluation (default {defaults.eval_batches})")
    run.add_argument("--sample-every", type=positive_int, default=None,
                     help=f"steps between samples (default {defaults.sample_every})")
    run.add_argument("--seed", type=seed_number, default=None, help=f"random seed (default {defaults.seed})")
    parser.add_argument("--skip-memory-check", action="store_true",
                        help="train even if the model looks too big for the memory available")
    parser.set_defaults(run=run_train)
    args = parser.parse_args(argv[1:])
    given = {name for name in (*vars(Settings()), "n_layer", "n_head", "n_embd", "vocab_size")
             if getattr(args, name, None) is not None}
    if args.resume is not None:
        if args.text or given - {"steps"}:
            parser.error("--resume continues the run as it was started: give no TEXT and no settings "
                         "(except --steps, to train for longer)")
        if args.out is not None and args.out != args.resume:
            parser.error("--resume saves into the folder it continues: drop --out")
        args.out = args.resume
    elif args.out is None:
        parser.error("give --out DIR, the weights folder to write")
    if args.source is not None and given & {"n_layer", "n_head", "n_embd", "vocab_size"}:
        parser.error("--from keeps the model's shape and tokenizer: drop --n-layer/--n-head/--n-embd/--vocab-size")
    if args.resume is None and args.source is None:
        n_embd = args.n_embd or SHAPE_DEFAULTS["n_embd"]
        n_head = args.n_head or SHAPE_DEFAULTS["n_head"]
        if n_embd % n_head:
            parser.error(f"--n-embd {n_embd} is not divisible by --n-head {n_head}: every head needs the same width")
    if args.vocab_size is not None and args.vocab_size < 257:
        parser.error(f"--vocab-size {args.vocab_size}: a byte-level vocabulary has at least 257 tokens "
                     "(256 bytes and <|endoftext|>)")
    return args


def settings_from(args: argparse.Namespace, base: Settings) -> Settings:
    values = asdict(base)
    values.update({name: getattr(args, name) for name in values if getattr(args, name, None) is not None})
    if getattr(args, "source", None) is not None and getattr(args, "batch_size", None) is None:
        values["batch_size"] = FROM_BATCH_SIZE
    if getattr(args, "sample_every", None) is None and getattr(args, "eval_every", None) is not None:
        values["sample_every"] = args.eval_every  # a sample with every evaluation, unless asked otherwise
    settings = Settings(**values)
    if settings.min_lr > settings.lr:
        raise CLIError(f"--min-lr {settings.min_lr} is above --lr {settings.lr}: the floor must be lower")
    return settings

def new_run(args: argparse.Namespace, scratch: Path) -> Run:
    """A run from scratch, or from --from: the data tokenized, the model built or loaded."""
    settings = settings_from(args, Settings())
    corpus = read_corpus(args.text)
    if args.source is not None:
        model = load_for_training(args, args.source)
        tokenizer, config, params = model.tokenizer, model.config, model.params
        tokenizer_files = open_checkpoint(args.source).tokenizer_files()
        if settings.block_size > config.n_ctx:
            raise CLIError(f"--block-size {settings.block_size} is more than {args.source}'s context of {config.n_ctx}")
        source = f"fine-tuned from {args.source} on {corpus.description}"
    else:
        vocabulary = byte_level() if args.vocab_size is None else learn_vocabulary(corpus.texts, args.vocab_size)
        if args.vocab_size is not None and vocabulary.vocab_size < args.vocab_size:
            say(f"potatogpt train: note: the vocabulary has {vocabulary.vocab_size} tokens, not {args.vocab_size}: "
                "the text has no more pairs to merge")
        write_tokenizer_files(vocabulary, scratch)
        tokenizer_files = [scratch / name for name in ("encoder.json", "vocab.bpe")]
        tokenizer = vocabulary.tokenizer()
        config = GPT2Config(n_layer=args.n_layer or SHAPE_DEFAULTS["n_layer"],
                            n_head=args.n_head or SHAPE_DEFAULTS["n_head"],
                            n_embd=args.n_embd or SHAPE_DEFAULTS["n_embd"], n_ctx=settings.block_size,
                            vocab_size=tokenizer.vocab_size)
        try:
            check_config(config, "the model's shape")
        except WeightsError as e:
            raise CLIError(str(e)) from None
        check_training_memory(args, config, args.out)
        params = train.init_params(config, seed=settings.seed)
        source = f"trained from scratch on {corpus.description}"
    data = prepare(corpus, tokenizer, settings.block_size)
    tokens = data.train + data.val
    return Run(settings, config, params, tokenizer, tokenizer_files, tokens, len(data.train),
               make_optimizer(params, settings), training_batches(tokens, len(data.train), settings),
               random.Random(settings.seed + 1), source)

def load_for_training(args: argparse.Namespace, folder: Path) -> GPT2:
    try:
        checkpoint = open_checkpoint(folder)
        check_training_memory(args, checkpoint.config, folder)
        return load(folder)
    except (WeightsError, TokenizerError) as e:
        raise CLIError(str(e)) from None


def check_training_memory(args: argparse.Namespace, config: GPT2Config, folder: Path) -> None:
    if not args.skip_memory_check:
        problem = memory.training_refusal(config, memory.available_bytes())
        if problem is not None:
            raise CLIError(f"{folder}: {problem}")

# --- Training -----------------------------------------------------------------------------------
def held_out_loss(run: Run) -> float:
    """The mean loss over --eval-batches batches of the held-out text: the same batches at every
    evaluation (their own seeded generator), so the numbers are comparable across the run."""
    s = run.settings
    held_out = Batches(run.val_ids, s.block_size, seed=s.seed + 2, what="the held-out split")
    batches = [held_out.next_batch(s.batch_size) for _ in range(s.eval_batches)]
    return sum(train.loss(run.params, batch, run.config) for batch in batches) / len(batches)


def sample(run: Run) -> str:
    model = GPT2(run.config, run.params, run.tokenizer)
    ids = list(model.generate([run.tokenizer.eot_id], min(SAMPLE_TOKENS, run.config.n_ctx), temperature=0.8, seed=run.sample_rng.randrange(2**32),
                              stop_at_eot=False))
    return run.tokenizer.decode(ids).replace(EOT_TEXT, " | ")


def one_step(run: Run, started: float) -> dict[str, object]:
    """Draw a batch, compute the loss and its gradients, clip, and take one AdamW step; log it.

    A Ctrl-C before the update leaves the run as it was before the step (the batch drawn is
    drawn again on --resume: `resume_point`); one during the update waits until the step is
    applied and logged whole."""
    s = run.settings
    batch = run.batches.next_batch(s.batch_size)
    loss, grads = train.loss_and_gradients(run.params, batch, run.config)
    norm = train.clip_gradients(grads, s.grad_clip) if s.grad_clip > 0 else train.gradient_norm(grads)
    lr = train.learning_rate(run.step, max_lr=s.lr, min_lr=s.min_lr, warmup_steps=s.warmup, decay_steps=s.steps)
    with interrupts_deferred():
        run.opt.lr = lr
        run.opt.step(grads)
        run.step += 1
        entry: dict[str, object] = {"step": run.step, "loss": loss, "lr": lr, "grad_norm": norm,
                                    "seconds": round(time.perf_counter() - started, 3)}
        run.log.append(entry)
        run.resume_point = run.batches.state()
    return entry


def run_train(args: argparse.Namespace) -> int:
    out: Path = args.out
    if args.resume is None:
        check_out(out, args.force)
    with tempfile.TemporaryDirectory(prefix="potatogpt-vocab-") as scratch:
        try:
            run = resume(args) if args.resume is not None else new_run(args, Path(scratch))
        except DataError as e:
            raise CLIError(str(e)) from None
        return train_loop(run, out)


def check_out(out: Path, force: bool) -> None:
    if out.exists() or out.is_symlink():
        if not force:
            raise CLIError(f"{out}: already exists; choose another --out, continue it with --resume {out}, "
                           "or pass --force to replace it")
        try:
            refuse_to_replace(out)
        except FolderError as e:
            raise CLIError(str(e)) from None


def train_loop(run: Run, out: Path) -> int:
    s = run.settings
    status = ProgressLine(sys.stderr)
    print(f"potatogpt train: {describe(run)}; writing {out}", flush=True)
    started = time.perf_counter()
    first_step = run.step
    tokens_per_step = s.batch_size * s.block_size
    last: dict[str, object] = {}
    try:
        if run.step and run.log and "loss" in run.log[-1]:  # resumed where an evaluation was interrupted
            report_if_due(run, out, run.log[-1], status)
        while run.step < s.steps:
            entry = one_step(run, started)
            last = entry
            elapsed = time.perf_counter() - started
            rate = (run.step - first_step) * tokens_per_step / max(elapsed, 1e-9)
            eta = (s.steps - run.step) * elapsed / max(run.step - first_step, 1)
            status.redraw(f"step {run.step}/{s.steps}  loss {entry['loss']:.4f}  {rate:,.0f} tok/s  "
                          f"{clock(elapsed)} elapsed  ETA {clock(eta)}", now=run.step == s.steps)
            report_if_due(run, out, entry, status)
    except KeyboardInterrupt as e:
        status.clear()
        if run.step > 0:
            save(run, out)
            say(f"potatogpt train: interrupted at step {run.step}; saved {out} (continue with --resume {out})")
        else:
            say("potatogpt train: interrupted before the first step; nothing was written")
        return exit_status(e)
    status.end()  # (the last step's evaluation has saved `out`)
    for line in plot(curves(run.log), {"train": ".", "held-out": "*"}):
        print(line)
    took = time.perf_counter() - started
    loss = last.get("loss")
    print(f"potatogpt train: {run.step - first_step} steps in {clock(took)}"
          + (f", last train loss {loss:.4f}" if isinstance(loss, float) else "")
          + f"; wrote {out} (try `python -m potatogpt --weights {out} \"...\"`)", flush=True)
    return 0


def report_if_due(run: Run, out: Path, entry: dict[str, object], status: ProgressLine) -> None:
    """Every --eval-every steps (and at the last): the held-out loss, then save; every
    --sample-every steps: a sample.  Printed as one line each, the status line cleared first."""
    s = run.settings
    evaluate = run.step % s.eval_every == 0 or run.step == s.steps
    show_sample = run.step % s.sample_every == 0 or run.step == s.steps
    if not (evaluate or show_sample):
        return
    status.clear()
    report: dict[str, object] = {"step": run.step}
    if evaluate:
        report["val_loss"] = held_out_loss(run)
    if show_sample:
        before = run.sample_rng.getstate()
        try:
            report["sample"] = sample(run)
        except BaseException:  # (a Ctrl-C: --resume makes this very sample again)
            run.sample_rng.setstate(before)
            raise
    run.log.append(report)
    line = f"step {run.step}: train loss {entry['loss']:.4f}"
    if evaluate:
        line += f", held-out loss {report['val_loss']:.4f}"
    print(line + (f"\n    {report['sample']!r}" if show_sample else ""), flush=True)
    if evaluate:
        save(run, out)


def curves(log: Sequence[dict[str, object]]) -> dict[str, list[tuple[int, float]]]:
    """The train loss (averaged over each stretch between evaluations) and the held-out loss."""
    train_points: list[tuple[int, float]] = []
    held_out: list[tuple[int, float]] = []
    stretch: list[float] = []
    for entry in log:
        step = entry.get("step")
        if not isinstance(step, int):
            continue
        if isinstance(entry.get("loss"), float):
            stretch.append(float(entry["loss"]))  # type: ignore[arg-type]  # (checked just above)
            if len(stretch) >= 10:
                train_points.append((step, sum(stretch) / len(stretch)))
                stretch = []
        if isinstance(entry.get("val_loss"), float):
            held_out.append((step, float(entry["val_loss"])))  # type: ignore[arg-type]  # (checked just above)
    return {"train": train_points, "held-out": held_out}


def describe(run: Run) -> str:
    c, s = run.config, run.settings
    n_params = sum(len(p.read()) for p in train.parameters(run.params))
    where = f"from step {run.step}, " if run.step else ""
    return (f"{where}{n_params:,} parameters ({c.n_layer} layers, {c.n_head} heads, n_embd {c.n_embd}, context "
            f"{c.n_ctx}, {c.vocab_size} tokens), {len(run.train_ids):,} training and {len(run.val_ids):,} held-out "
            f"tokens, {s.steps} steps of {s.batch_size} x {s.block_size}")


def clock(seconds: float) -> str:
    seconds = int(seconds) if math.isfinite(seconds) else 0
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"
