"""`python -m potatogpt gradcheck DIR`: backward.py's gradients against finite differences, for a class to run."""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from pathlib import Path

from .. import train
from ..api import load
from ..tokenizer import TokenizerError
from ..weights.catalogue import WeightsError
from .options import CLIError, positive_int, seed_number


GRADCHECK_RELATIVE = 1e-6  # a backward formula that is wrong is off by far more than this
GRADCHECK_ABSOLUTE = 1e-8  # central differences' own rounding, for gradients near zero


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="potatogpt gradcheck",
        description="Check backward.py's gradients against central differences, (L(w+h) - L(w-h)) / 2h in "
                    "float64, on a few random coordinates of every tensor of a weights folder.")
    parser.add_argument("folder", type=Path, metavar="DIR", help="a weights folder (e.g. one `train` wrote)")
    parser.add_argument("--per-tensor", type=positive_int, default=3, metavar="N", help="coordinates per tensor (default 3)")
    parser.add_argument("--rows", type=positive_int, default=2, help="rows in the batch (default 2)")
    parser.add_argument("--tokens", type=positive_int, default=8, help="tokens per row (default 8, at most the context)")
    parser.add_argument("--seed", type=seed_number, default=0, help="picks the batch and the coordinates (default 0)")
    parser.set_defaults(run=run_gradcheck)
    return parser.parse_args(argv[1:])


def run_gradcheck(args: argparse.Namespace) -> int:
    try:
        model = load(args.folder)
    except (WeightsError, TokenizerError) as e:
        raise CLIError(str(e)) from None
    config = model.config
    if args.tokens > config.n_ctx:
        raise CLIError(f"--tokens {args.tokens} is more than {args.folder}'s context of {config.n_ctx}")
    rng = random.Random(args.seed)
    batch = [[rng.randrange(config.vocab_size) for _ in range(args.tokens + 1)] for _ in range(args.rows)]
    print(f"potatogpt gradcheck: {args.folder}, a batch of {args.rows} x {args.tokens} random tokens, "
          f"{args.per_tensor} coordinates per tensor, h = 1e-5", flush=True)
    checks = train.gradient_check(model.params, batch, config, per_tensor=args.per_tensor, seed=args.seed)
    worst_by_tensor: dict[str, train.GradientCheck] = {}
    failures = 0
    for check in checks:
        if abs(check.analytic - check.numeric) > GRADCHECK_ABSOLUTE + GRADCHECK_RELATIVE * max(abs(check.analytic), abs(check.numeric)):
            failures += 1
        if check.name not in worst_by_tensor or check.error > worst_by_tensor[check.name].error:
            worst_by_tensor[check.name] = check
    width = max(len(name) for name in worst_by_tensor)
    for name, check in worst_by_tensor.items():
        print(f"  {name:<{width}}  [{check.index:>6}]  backward {check.analytic: .10e}  differences {check.numeric: .10e}  "
              f"relative error {check.error:.1e}")
    worst = max(checks, key=lambda c: c.error)
    if failures:
        print(f"potatogpt gradcheck: {failures} of {len(checks)} coordinates disagree (worst: {worst.name}[{worst.index}], "
              f"relative error {worst.error:.1e}); the backward pass is wrong there", flush=True)
        return 1
    print(f"potatogpt gradcheck: all {len(checks)} coordinates agree (largest relative error {worst.error:.1e})", flush=True)
    return 0
