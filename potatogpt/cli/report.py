"""`python -m potatogpt report TEXT --html FILE`: every instrument for one text, on one page.

The handout a teacher prints or projects: the tokens, the trace, the attention patterns, the
logit lens at every position, the scores and the sampling lab, in that order (the order of a
lesson: what goes in, what happens, what comes out), with a table of contents.  Each section is
the one `python -m potatogpt INSTRUMENT TEXT --html FILE` writes alone; look.py has the pieces.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .. import pages
from ..instruments import attention_patterns, explain_tokens, lens_grid, sampling_lab, score, trace
from . import look
from .options import CLIError, add_model_options, load_model, positive_int, seed_number
from .progress import ProgressLine

EXAMPLES = """\
examples (the tiny checkpoint works too: --weights <an export of checkpoints/tiny-vocab>):
  python -m potatogpt report "The cat sat on the mat" --html handout.html
  python -m potatogpt report "The Eiffel Tower is in the city of" --layer 5 --head 1 --html eiffel.html
"""


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="potatogpt report", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="All six instruments (tokens, trace, attention, lens, score, sample) for one text,\n"
                    "written as one self-contained HTML page with a table of contents: a handout to print\n"
                    "or project.  The lens shows every position, which costs several forward passes on a\n"
                    "big model: keep the text short.",
    )
    parser.add_argument("text", help="the text to look at")
    parser.add_argument("--html", required=True, metavar="FILE",
                        help="where to write the page ('-': to standard output)")
    add_model_options(parser, speed=False)  # exact weights in one process, as the instruments use
    parser.add_argument("--layer", type=int, default=0, help="the layer of the head drawn large (default 0)")
    parser.add_argument("--head", type=int, default=0, help="the head drawn large (default 0)")
    parser.add_argument("--try", dest="settings", type=look.setting, action="append", default=None,
                        metavar="SETTING", help="a sampling setting such as 'T=0.7,k=40' (repeat for more; "
                                                "default: those of `potatogpt sample`)")
    parser.add_argument("--draws", type=positive_int, default=100, metavar="N", help="draws per setting (default 100)")
    parser.add_argument("--seed", type=seed_number, default=0, help="random seed of the draws (default 0)")
    parser.set_defaults(run=run_report)
    return parser.parse_args(argv[1:])


def run_report(args: argparse.Namespace) -> int:
    if not args.text:
        raise CLIError("the text is empty: give some text to look at")
    look.check_page_path(args.html)  # before the load: a mistyped folder should not cost one
    model = load_model(args)
    look.check_head(model.config, args.layer, args.head)
    ids = look.encode(model, args.text, decode_step=True)  # (the trace feeds one more token)
    look.warn_about_lens_cost(model.config, len(ids))
    settings = args.settings or look.DEFAULT_SETTINGS
    steps: list[tuple[str, Callable[[], pages.Section]]] = [
        ("tokens", lambda: explain_tokens(model.tokenizer, args.text).section()),
        ("trace", lambda: trace(model, ids).section()),
        ("attention", lambda: attention_patterns(model, ids).section(layer=args.layer, head=args.head)),
        ("lens", lambda: lens_grid(model, ids).section()),
        ("score", lambda: score(model, [model.tokenizer.eot_id, *ids]).section()),
        ("sample", lambda: sampling_lab(model.next_token_logits(ids), settings, args.draws, args.seed,
                                        tokenizer=model.tokenizer).section(after=args.text)),
    ]
    status = ProgressLine(sys.stderr)  # (on a terminal only: a log gets nothing)
    sections = []
    try:
        for done, (name, section) in enumerate(steps):
            status.redraw(f"report: {name} ({done + 1} of {len(steps)}) ...", now=True)
            sections.append(section())
    finally:
        status.clear()  # whatever comes next (the result, an error) gets the line
    look.emit_page(args.html, pages.report(args.text, sections), "the report")
    return 0
