"""`python export_weights.py ...`: the exporter's command line (export.py does the work)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from ..cli.console import exit_status, finish_output, one_line, replace_unprintable, termination_signals_interrupt
from ..config import MODEL_SIZES
from .export import DEFAULT_BASE_URL, ExportError, convert, default_output, export_model, is_complete


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
    replace_unprintable(sys.stdout)  # a folder's name a terminal can't show must not fail the export
    try:
        with termination_signals_interrupt():  # a `kill` cleans up like Ctrl-C
            done = _run(args)
    except ExportError as e:
        print(f"export_weights.py: error: {one_line(e, 2000)}", file=sys.stderr)
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
