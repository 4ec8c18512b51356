"""Decode speed at a long context: one token attending over ~1,000 cached positions.

    python bench/bench_long_context.py [--context 1000] [--steps 10]

At a long context a decode step's time goes into attention (each head dots its query with every
cached key, then weighs every cached value), not into the weight matrices.  To see that part
alone, this uses one block of GPT-2 124M's shapes (12 heads of 64) and a 256-token vocabulary,
random weights, and times the decode steps that follow a --context-token prompt (the median).
It imports only `potatogpt.api.load` and the exporter, so the same file measures older commits.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import write_random_checkpoint  # noqa: E402
from potatogpt.api import load  # noqa: E402
from potatogpt.config import GPT2Config  # noqa: E402
from potatogpt.convert.export import convert  # noqa: E402

CONFIG = GPT2Config(n_layer=1, n_head=12, n_embd=768, n_ctx=1024, vocab_size=256)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--context", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/potatogpt-bench"))
    args = parser.parse_args()
    if not 1 <= args.context <= CONFIG.n_ctx - args.steps:
        parser.error(f"--context must be 1 .. {CONFIG.n_ctx - args.steps}")
    folder = args.dir / "long-context"
    if not (folder / "manifest.json").is_file():
        write_random_checkpoint(CONFIG, args.dir / "long-context-hf")
        convert(args.dir / "long-context-hf", folder)
    model = load(folder)
    rng = random.Random(0)
    kv_cache = model.new_kv_cache()
    started = time.perf_counter()
    model.forward([rng.randrange(256) for _ in range(args.context)], kv_cache)
    prompt_s = time.perf_counter() - started
    steps = []
    for _ in range(args.steps):
        started = time.perf_counter()
        model.forward([rng.randrange(256)], kv_cache)
        steps.append(time.perf_counter() - started)
    print(f"1 block of 124M shapes, {args.context} cached positions: prompt {prompt_s:.1f} s, "
          f"decode step median {statistics.median(steps) * 1000:.1f} ms (min {min(steps) * 1000:.1f}, "
          f"{args.steps} steps), Python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
