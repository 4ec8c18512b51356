"""The lab's commands (run them from the repository's root folder):

    python -m exercises check            grade every exercise (stage 2: values)
    python -m exercises check 6 7        grade exercises 6 and 7
    python -m exercises finale           generate text with your functions plugged into GPT-2
    python -m exercises train            train a small GPT-2 with your backward pass (exercises 12 to 20)

Stage 1 (shapes) is mypy: `python -m mypy exercises/ex06_attention.py`.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from potatogpt.cli.options import positive_int

from .checks import EXERCISES
from .finale import run_finale
from .grader import EXERCISES_DIR, TIME_LIMIT, Lab, grade_file, print_reports, solution_path
from .training import run_training


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m exercises", description="Build GPT-2 yourself: the grader.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="compare your functions with potatogpt's own")
    check.add_argument("numbers", nargs="*", type=int, metavar="N", help="exercises to grade (default: all)")
    check.add_argument("--solutions", type=Path, default=EXERCISES_DIR, metavar="DIR",
                       help="the folder holding your exNN_*.py files (default: exercises/)")
    check.add_argument("--time-limit", type=float, default=TIME_LIMIT, metavar="SECONDS",
                       help=f"stop an exercise's check after this long (default: {TIME_LIMIT:g})")
    finale = commands.add_parser("finale", help="generate text with your functions inside GPT-2")
    finale.add_argument("prompt", nargs="?", default="Alan Turing theorized that computers would one day become")
    finale.add_argument("--weights", type=Path, default=None, metavar="DIR",
                        help="a weights folder (e.g. weights/124M); default: the tiny offline checkpoint")
    finale.add_argument("-n", "--max-new-tokens", type=int, default=20)
    finale.add_argument("--temperature", type=float, default=0.0)
    finale.add_argument("--top-k", type=int, default=None)
    finale.add_argument("--top-p", type=float, default=None)
    finale.add_argument("--seed", type=int, default=None)
    finale.add_argument("--solutions", type=Path, default=EXERCISES_DIR, metavar="DIR")
    learn = commands.add_parser("train", help="train a small GPT-2 with your backward pass (exercises 12 to 20)")
    learn.add_argument("--steps", type=positive_int, default=300, metavar="N", help="steps at most (default: 300)")
    learn.add_argument("--seconds", type=positive_float, default=60.0, metavar="S",
                       help="stop after about this long, if that comes first (default: 60)")
    learn.add_argument("--print-every", type=positive_int, default=10, metavar="N",
                       help="print the two losses every N steps (default: 10)")
    learn.add_argument("--seed", type=int, default=0, help="the seed of the initial weights and the batches")
    learn.add_argument("--solutions", type=Path, default=EXERCISES_DIR, metavar="DIR",
                       help="the folder holding your exNN_*.py files (default: exercises/)")
    learn.add_argument("--time-limit", type=float, default=TIME_LIMIT, metavar="SECONDS",
                       help=f"stop an exercise's check after this long (default: {TIME_LIMIT:g})")
    return parser


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text} is not a number above 0")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.solutions.is_dir():
        print(f"python -m exercises {args.command}: --solutions {args.solutions}: no such folder; give the folder "
              "that holds your exNN_*.py files", file=sys.stderr)
        return 2
    if args.command == "finale":
        return run_finale(args)
    if args.command == "train":
        return run_training(args)
    known = {exercise.number for exercise in EXERCISES}
    unknown = sorted(set(args.numbers) - known)
    if unknown:
        print(f"no exercise {', '.join(map(str, unknown))}: they are numbered 1 to {max(known)}", file=sys.stderr)
        return 2
    chosen = [exercise for exercise in EXERCISES if not args.numbers or exercise.number in args.numbers]
    with tempfile.TemporaryDirectory(prefix="potatogpt-exercises-") as workdir:
        lab = Lab(Path(workdir))
        reports = []
        for exercise in chosen:
            reports.append(grade_file(exercise, solution_path(args.solutions, exercise), lab, args.time_limit))
            print(reports[-1], flush=True)
    print_reports(reports, summary_only=True)
    return 0 if all(report.status == "passed" for report in reports) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # (while grading: training catches its own, to show what it has)
        print("stopped (Ctrl-C)", file=sys.stderr)
        sys.exit(130)
