"""How fast does the potato learn?  Milliseconds per training step, tokens per second, and the
share of a step spent in the matrix products.

    python bench/bench_train.py                    # both shapes, exact storage (the default)
    python bench/bench_train.py --shape tiny --steps 500 --plain

A training step here is train.loss_and_gradients (the forward pass, recorded, and the backward
pass) then AdamW.step (which also rebuilds the exact layouts of the updated weights); each shape
is timed again with train.clip_gradients between the two, as a training loop with --grad-clip
runs it.  Two shapes:

  tiny     1 layer, n_embd 16, 4 heads, context 16, byte-level vocabulary (257): ~7.7k parameters,
           one 8-character line per step (B = 1 row of T = 8 tokens, after an <|endoftext|>),
           the shape of the well-known single-file scalar-autograd GPT (0.32 s per step here)
  default  `python -m potatogpt train`'s default shape: 2 layers, n_embd 32, 4 heads, context 32,
           byte-level vocabulary: ~35k parameters, B = 8 rows of T = 32 tokens per step

Timings on a shared machine wander: each step is timed by the CPU time this process spent on it
(time.process_time, which another process's work does not add to) as well as by the wall clock.
The figures are the median over all steps, and the best median of blocks of --block steps (the
one least disturbed by other processes sharing the cores).
The matrix-product share comes from a second, instrumented run of the same steps: the time inside
every product (tensor.matmul, the fast kernels' matmul_weight, whether forward or backward)
divided by the step time of that run.  --plain loads the parameters as storage="reference"
instead, so every product is tensor.py's plain `matmul` (the readable path).
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from potatogpt import tensor, train  # noqa: E402
from potatogpt.cli.run_state import SHAPE_DEFAULTS, Settings  # noqa: E402
from potatogpt.config import GPT2Config  # noqa: E402
from potatogpt.fast import storage as fast_storage, training as fast_training  # noqa: E402
from potatogpt.fast.kernels import matmul_weight  # noqa: E402


@dataclass(frozen=True)
class Shape:
    config: GPT2Config
    rows: int  # B
    tokens: int  # T, fed per row


SHAPES = {
    "tiny": Shape(GPT2Config(n_layer=1, n_head=4, n_embd=16, n_ctx=16, vocab_size=257), rows=1, tokens=8),
    "default": Shape(GPT2Config(**SHAPE_DEFAULTS, n_ctx=Settings.block_size, vocab_size=257), rows=Settings.batch_size,
                     tokens=Settings.block_size),
}
EOT = 256  # the byte-level vocabulary's <|endoftext|>
TEXT = (b"Beautiful is better than ugly. Explicit is better than implicit. Simple is better than complex. "
        b"Complex is better than complicated. Flat is better than nested. Sparse is better than dense. "
        b"Readability counts. Special cases aren't special enough to break the rules. ")


def batches(shape: Shape, count: int, seed: int) -> list[list[list[int]]]:
    """`count` batches of B rows, each <|endoftext|> then T bytes of TEXT from a random offset."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        batch = []
        for _ in range(shape.rows):
            start = rng.randrange(len(TEXT) - shape.tokens)
            batch.append([EOT] + list(TEXT[start : start + shape.tokens]))
        out.append(batch)
    return out


@contextmanager
def product_timer() -> Iterator[list[float]]:
    """Time spent inside every matrix product while the block runs, summed into the list's one
    entry (the wrappers replace the module attributes the products are called through)."""
    spent = [0.0]
    originals: list[tuple[object, str, Callable[..., list[list[float]]]]] = [
        (tensor, "matmul", tensor.matmul),
        (fast_storage, "matmul_weight", matmul_weight),  # the forward's products, where they call it
        (fast_training, "matmul_weight", matmul_weight)]  # the backward's

    def timed(function: Callable[..., list[list[float]]]) -> Callable[..., list[list[float]]]:
        def wrapper(*args: object) -> list[list[float]]:
            start = time.perf_counter()
            try:
                return function(*args)
            finally:
                spent[0] += time.perf_counter() - start
        return wrapper

    try:
        for module, name, function in originals:
            setattr(module, name, timed(function))
        yield spent
    finally:
        for module, name, function in originals:
            setattr(module, name, function)


def run(shape: Shape, steps: list[list[list[int]]], storage: str, clip: bool) -> tuple[list[float], list[float]]:
    """Seconds per training step, CPU and wall clock, one entry per step."""
    params = train.init_params(shape.config, seed=1, storage=storage)
    opt = train.AdamW(params, lr=1e-3)
    cpu, wall = [], []
    for batch in steps:
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        _loss, grads = train.loss_and_gradients(params, batch, shape.config)
        if clip:
            train.clip_gradients(grads, 1.0)
        opt.step(grads)
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    return cpu, wall


def best_block(times: list[float], block: int) -> float:
    medians = [statistics.median(times[i : i + block]) for i in range(0, len(times) - block + 1, block)]
    return min(medians or [statistics.median(times)])


def report(name: str, shape: Shape, steps: int, block: int, storage: str) -> None:
    c = shape.config
    n_params = sum(len(p.read()) for p in train.parameters(train.init_params(c, storage=storage)))
    data = batches(shape, steps + 5, seed=0)
    run(shape, data[:5], storage, clip=True)  # warm up
    print(f"{name}: {c.n_layer} layer(s), n_embd {c.n_embd}, {c.n_head} heads, context {c.n_ctx}, vocab {c.vocab_size}, "
          f"{n_params:,} parameters; B={shape.rows} x T={shape.tokens}; storage={storage}; {steps} steps")
    tokens = shape.rows * shape.tokens
    for clip in (False, True):
        cpu, wall = run(shape, data[5:], storage, clip)
        median = statistics.median(cpu)
        what = "forward + backward + AdamW" + (" + clipping" if clip else "")
        print(f"  {what}:")
        print(f"    CPU  {median * 1e3:8.2f} ms/step median  {best_block(cpu, block) * 1e3:8.2f} best block of {block}"
              f"   {tokens / median:9.0f} tokens/s")
        print(f"    wall {statistics.median(wall) * 1e3:8.2f} ms/step median  {best_block(wall, block) * 1e3:8.2f} best block")
    with product_timer() as spent:
        _cpu, timed = run(shape, data[5:], storage, clip=True)
    print(f"  {100 * spent[0] / sum(timed):4.1f}% of the step in matrix products (an instrumented run, wall clock)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=[*SHAPES, "both"], default="both")
    parser.add_argument("--steps", type=int, help="training steps to time (default: 400 tiny, 30 default)")
    parser.add_argument("--block", type=int, help="steps per block for the best-block figure (default: 50 tiny, 10 default)")
    parser.add_argument("--plain", action="store_true", help='storage="reference": every product is tensor.matmul')
    args = parser.parse_args(argv)
    print(f"Python {platform.python_version()} on {platform.machine()}")
    for name in SHAPES if args.shape == "both" else [args.shape]:
        steps = args.steps or (400 if name == "tiny" else 30)
        block = args.block or (50 if name == "tiny" else 10)
        report(name, SHAPES[name], steps, min(block, steps), "reference" if args.plain else "exact")


if __name__ == "__main__":
    main()
