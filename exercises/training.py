"""The second finale: GPT-2 learning with your backward pass.

`python -m exercises train` grades exercises 12 to 20, then trains two copies of one small GPT-2
(the same initial weights, the same batches of text, the same settings) side by side: one with
potatogpt's backward pass and AdamW, the other with every function of yours that passes plugged
in (exercises/backprop.py's `plugged_in`) and potatogpt's for the rest.  It prints both losses as
they go, both curves at the end, and a sample of text from your model.

With everything passing, the two columns agree to about 1e-12: the same arithmetic in another
order.  Nothing is downloaded: the text is the Python reference that ships with Python
(pydoc_data), one token per byte, and the model starts from GPT-2's initialisation.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from potatogpt import train
from potatogpt.api import GPT2
from potatogpt.cli.curves import plot
from potatogpt.config import GPT2Config
from potatogpt.dataset import Batches, DataError, default_corpus, prepare
from potatogpt.learn_bpe import byte_level
from potatogpt.model import Params
from potatogpt.tokenizer import EOT_TEXT, Tokenizer

from . import backprop
from .checks import EXERCISES
from .grader import Lab, crash_lines, passing

# A model small enough to train for a minute in pure Python, twice over: GPT-2's architecture at
# 2 blocks of 4 heads and 32 channels, reading 32 bytes at a time.
SHAPE = GPT2Config(n_layer=2, n_head=4, n_embd=32, n_ctx=32, vocab_size=257)
BATCH_SIZE = 4
MAX_LR, MIN_LR, WARMUP = 3e-3, 3e-4, 10
GRAD_CLIP = 1.0
SAMPLE_PROMPT = "The "
SAMPLE_TOKENS = 28  # (the context holds 32: the prompt's 4 bytes and 28 new ones)


@dataclass
class Learner:
    """One of the two models, with its optimizer and its losses so far."""

    params: Params
    opt: train.AdamW
    losses: list[tuple[int, float]]


# --- Training ------------------------------------------------------------------------------------------------
def new_learner(seed: int, storage: str) -> Learner:
    params = train.init_params(SHAPE, seed, storage)
    return Learner(params, train.AdamW(params, lr=MAX_LR), [])


def learning_step(learner: Learner, batch: list[list[int]], step: int, total: int) -> float:
    """One step, as `python -m potatogpt train` takes it: the loss and its gradients, clipping, the
    learning rate's schedule, and AdamW."""
    loss, grads = train.loss_and_gradients(learner.params, batch, SHAPE)
    train.clip_gradients(grads, GRAD_CLIP)
    learner.opt.lr = train.learning_rate(step, max_lr=MAX_LR, min_lr=MIN_LR, warmup_steps=WARMUP, decay_steps=total)
    learner.opt.step(grads)
    learner.losses.append((step + 1, loss))
    return loss


def run_training(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="potatogpt-train-") as workdir:
        graded = passing(args.solutions, [e for e in EXERCISES if e.part == 2], Lab(Path(workdir)), args.time_limit)
    functions = {name: function for _exercise, named in graded.passed for name, function in named.items()}
    print(graded.summary(), file=sys.stderr)
    tokenizer = byte_level().tokenizer()
    try:
        data = prepare(default_corpus(), tokenizer, SHAPE.n_ctx)
    except DataError as error:
        print(f"python -m exercises train: {error}", file=sys.stderr)
        return 1
    batches = Batches(data.train, SHAPE.n_ctx, seed=args.seed)
    # potatogpt's model runs on the fast exact storage; yours on the plain one, so that every
    # product your functions take is the one you wrote (the numbers are the same to rounding).
    potatogpts, mine = new_learner(args.seed, "exact"), new_learner(args.seed, "reference")
    print(f"{len(functions)} of your functions in a GPT-2 of {SHAPE.n_layer} blocks, {SHAPE.n_head} heads and "
          f"{SHAPE.n_embd} channels, learning {data.source.split(' (')[0]} one byte at a time, "
          f"{BATCH_SIZE} rows of {SHAPE.n_ctx} bytes a step")
    print(f"{'step':>6}  {'yours':>10}  {'potatogpt':>10}  {'difference':>10}")
    started = time.perf_counter()
    status = 0
    try:
        for step in range(args.steps):
            batch = batches.next_batch(BATCH_SIZE)
            ours_loss = learning_step(potatogpts, batch, step, args.steps)
            with backprop.plugged_in(functions):
                your_loss = learning_step(mine, batch, step, args.steps)
            last = step + 1 == args.steps or time.perf_counter() - started > args.seconds
            if step % args.print_every == 0 or last or not math.isfinite(your_loss):
                print(f"{step + 1:>6}  {your_loss:>10.6f}  {ours_loss:>10.6f}  {abs(your_loss - ours_loss):>10.1e}",
                      flush=True)
            if not math.isfinite(your_loss):
                print(f"your model's loss is {your_loss} at step {step + 1}: a gradient of inf or nan "
                      "(a division by zero, a log of 0?)", file=sys.stderr)
                return 1
            if last:
                break
    except KeyboardInterrupt:
        print("stopped (Ctrl-C)", file=sys.stderr)
        status = 130
    except SystemExit:
        print(f"your code called sys.exit while training, at step {len(mine.losses) + 1}: an exercise function "
              "must return its result, never end the program", file=sys.stderr)
        return 1
    except Exception as error:  # (your function raised while training: where, in one report)
        print(f"your code raised while training, at step {len(mine.losses) + 1}:", file=sys.stderr)
        for line in crash_lines(error, students_file(error, args.solutions), None, None):
            print(f"    {line}", file=sys.stderr)
        return 1
    if not mine.losses:
        return status
    del potatogpts.losses[len(mine.losses):]  # (a Ctrl-C during your step: both curves end at the same step)
    print()
    print("\n".join(plot({"potatogpt's": potatogpts.losses, "yours": mine.losses}, {"potatogpt's": "o", "yours": "y"})))
    apart = max(abs(a - b) for (_, a), (_, b) in zip(mine.losses, potatogpts.losses))
    if apart < 1e-6:
        print(f"(one curve: yours is drawn over potatogpt's, which it never leaves by more than {apart:.1e})")
    print(f"\na sample of your model: {sample(mine, tokenizer, args.seed)!r}")
    return status


def students_file(error: BaseException, folder: Path) -> Path | None:
    """The last file of yours in the error's traceback (the line that raised, or called what did)."""
    folder = folder.resolve()
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        if folder in Path(frame.filename).resolve().parents:
            found = Path(frame.filename)
    return found


def sample(learner: Learner, tokenizer: Tokenizer, seed: int) -> str:
    gpt = GPT2(SHAPE, learner.params, tokenizer)
    prompt = tokenizer.encode(SAMPLE_PROMPT)
    ids = list(gpt.generate(prompt, SAMPLE_TOKENS, temperature=0.8, seed=seed, stop_at_eot=False))
    return tokenizer.decode(prompt + ids).replace(EOT_TEXT, " | ")
