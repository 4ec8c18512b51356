"""`python -m potatogpt ...`: pick the command from the first word, run it, report any failure in one line.

    python -m potatogpt "prompt"            generate.py   write a continuation, token by token
    python -m potatogpt INSTRUMENT TEXT     look.py       trace, tokens, score, attention, lens, sample
    python -m potatogpt report TEXT ...     report.py     all six instruments on one page (--html FILE)
    python -m potatogpt train [TEXT] ...    train.py      train a model, or fine-tune one
    python -m potatogpt gradcheck DIR       gradcheck.py  the backward pass against finite differences

Every command's problems reach the user as one line on stderr and a non-zero exit: the handlers
here are the only place that turns exceptions into exit statuses.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from ..fast.parallel import WorkerError
from . import generate, gradcheck, look, report, train
from .console import discard_output, exit_status, finish_output, replace_unprintable, termination_signals_interrupt
from .options import CLIError, error, say

# The first word of the command line -> how to read the rest.  Anything else is a prompt.
COMMANDS: dict[str, Callable[[Sequence[str]], argparse.Namespace]] = {
    **{name: look.parse_args for name in look.INSTRUMENTS},
    "report": report.parse_args,
    "train": train.parse_args,
    "gradcheck": gradcheck.parse_args,
}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The Namespace of the command argv names; its `run` attribute runs it."""
    command = COMMANDS.get(argv[0]) if argv else None
    return command(argv) if command is not None else generate.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        with termination_signals_interrupt():  # a `kill` or a closed terminal cleans up like Ctrl-C
            args = parse_args(sys.argv[1:] if argv is None else argv)
            if sys.stdout is None:  # started with `>&-`: there is nowhere to write the text
                return error("standard output is closed; redirect it to a file (or /dev/null) instead")
            replace_unprintable(sys.stdout)  # GPT-2 can write any Unicode; a terminal may show "?"
            status = int(args.run(args))
    except (CLIError, WorkerError) as e:
        return error(str(e))
    except KeyboardInterrupt as e:
        say("\npotatogpt: interrupted")
        return exit_status(e)
    except MemoryError:
        return error("out of memory; try --compact, or a smaller --model")
    except BrokenPipeError:
        # The reader went away (say, `| head`): stop quietly, as other command-line tools do.
        discard_output(sys.stdout)
        return 1
    except OSError as e:
        # Everything the program reads is checked where it is read; what is left is the output.
        return error(finish_output() or f"{e.filename or 'output'}: {e.strerror or e}")
    problem = finish_output()  # a full disk shows only when the last of the output is flushed
    return error(problem) if problem else status
