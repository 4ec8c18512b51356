"""`python -m potatogpt "some prompt"`: load GPT-2 and watch it write, one token at a time."""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from . import memory
from .config import MODEL_SIZES, GPT2Config
from .console import discard_output, exit_status, finish_output, termination_signals_interrupt
from .fast.parallel import WorkerError
from .api import STORAGE_FLAGS, GPT2, ContextError, load
from .fast import packed_cache
from .sampling import softmax, top_k_candidates
from .tokenizer import Tokenizer, TokenizerError
from .weights import Checkpoint, WeightsError, missing_weights_hint, open_checkpoint

OFFLINE_VARIABLE = "POTATOGPT_OFFLINE"  # set it (e.g. behind a classroom proxy) to never download

EXAMPLES = """\
examples:
  python -m potatogpt "Alan Turing theorized that computers would one day become"
  python -m potatogpt -n 20 --temperature 0.8 --top-k 40 --seed 1 "Once upon a time"
  python -m potatogpt --show-top 5 -n 8 "The capital of France is"
  echo "To be, or not to be" | python -m potatogpt --model 355M
  python -m potatogpt --model 355M "Hello"     # downloads and exports weights/355M first if missing
  python -m potatogpt -i --packed              # load once, then prompt after prompt (Ctrl-D ends)
  python -m potatogpt --packed --jobs 2 "The meaning of life is"

look inside (python -m potatogpt INSTRUMENT --help): trace, tokens, score, attention, lens, sample
"""

# Subcommands that look inside the model instead of generating (see look.py).
INSTRUMENTS = ("trace", "tokens", "score", "attention", "lens", "sample")


class CLIError(Exception):
    """A problem to report in one line, with a non-zero exit."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in INSTRUMENTS:
        from .look import parse_args as parse_instrument  # (a late import: look.py builds on this module)
        return parse_instrument(argv)
    parser = argparse.ArgumentParser(
        prog="potatogpt",
        description="GPT-2 in pure Python: prints the prompt, then streams each new token as it is chosen.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("prompt", nargs="?", help="the text to continue (default: read stdin, or ask)")
    parser.add_argument("-n", "--max-new-tokens", type=non_negative_int, default=40, metavar="N",
                        help="how many tokens to generate (default 40)")
    parser.add_argument("--temperature", type=non_negative_float, default=0.0, metavar="T",
                        help="0 = greedy, the default; higher = more random")
    parser.add_argument("--top-k", type=positive_int, default=None, metavar="K",
                        help="sample only from the K most likely tokens")
    parser.add_argument("--top-p", type=probability, default=None, metavar="P",
                        help="sample only from the most likely tokens that make up probability P")
    parser.add_argument("--seed", type=seed_number, default=None, help="random seed, for repeatable sampling")
    parser.add_argument("--ignore-eot", action="store_true",
                        help="keep going past <|endoftext|> instead of stopping there")
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
    parser.add_argument("-i", "--interactive", action="store_true",
                        help="after each generation ask for another prompt (the default at a terminal "
                             "without a PROMPT); Ctrl-D or Ctrl-C at the prompt ends")
    parser.add_argument("--show-top", type=positive_int, default=None, metavar="K",
                        help="after each token, show the K most likely next tokens and their probabilities")
    speed = parser.add_argument_group("speed and memory")
    storage = speed.add_mutually_exclusive_group()
    storage.add_argument("--packed", dest="storage", action="store_const", const="packed", default="exact",
                         help="fixed-point weights: about 1.7x faster and 4x smaller, float32-like accuracy")
    storage.add_argument("--low-memory", dest="storage", action="store_const", const="compact",
                         help="keep weights as float32 arrays: exact, about 8x smaller, about 4x slower")
    storage.add_argument("--reference", dest="storage", action="store_const", const="reference",
                         help="no speed tricks: plain lists and the textbook product of tensor.py, "
                              "the code you read is the code that runs (slow: seconds per token on 124M)")
    speed.add_argument("--jobs", "-j", type=positive_int, default=1, metavar="N",
                       help="split the matrix products across N processes (use your free cores)")
    speed.add_argument("--skip-memory-check", action="store_true",
                       help="load even if the model looks too big for the memory available")
    args = parser.parse_args(argv)
    if args.storage == "reference" and args.jobs > 1:
        parser.error("--reference runs in one process, with no kernels: drop --jobs")
    if args.temperature == 0.0 and (args.top_k is not None or args.top_p is not None or args.seed is not None):
        parser.error("--top-k, --top-p and --seed only matter when sampling: add --temperature (e.g. 0.8)")
    return args


def seed_number(text: str) -> int:
    return _whole_number(text)


def non_negative_int(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def positive_int(text: str) -> int:
    value = _whole_number(text)
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


def read_prompt(args: argparse.Namespace) -> str:
    """The prompt of a one-shot run: the argument, or all of a pipe (a terminal is interactive)."""
    if args.prompt is not None:
        return str(args.prompt)
    if sys.stdin is None:
        return ""
    text = sys.stdin.read(MAX_PROMPT_CHARS + 1)  # bounded: `< /dev/zero` never ends
    if len(text) > MAX_PROMPT_CHARS:
        raise CLIError(f"the prompt on standard input is over {MAX_PROMPT_CHARS:,} characters, more than "
                       "GPT-2's context of 1024 tokens can hold; pass a shorter one")
    return text.rstrip("\n")


def is_interactive(args: argparse.Namespace) -> bool:
    """Ask for prompt after prompt: with -i, or at a terminal when no prompt was given."""
    if args.interactive:
        return True
    return args.prompt is None and sys.stdin is not None and sys.stdin.isatty()


def downloads_allowed(args: argparse.Namespace) -> bool:
    """--offline, or OFFLINE_VARIABLE set to anything but 0, keeps potatogpt off the network."""
    return not args.offline and os.environ.get(OFFLINE_VARIABLE, "") in ("", "0")


def load_model(args: argparse.Namespace) -> GPT2:
    folder: Path = args.weights if args.weights is not None else Path("weights") / args.model
    if not (folder / "manifest.json").is_file():
        if args.weights is not None:  # a folder named by hand is never downloaded into
            raise CLIError(f"no weights in {folder} (no manifest.json): point --weights at a folder written by export_weights.py")
        if not downloads_allowed(args):
            raise CLIError(f"no weights in {folder}: create them with `{missing_weights_hint(args.model)}` "
                           f"(downloading is off: --offline or {OFFLINE_VARIABLE} is set)")
        check_memory(args, MODEL_SIZES[args.model], folder)  # before a download, not after it
        from .convert.export import ExportError, export_model  # only needed on this path

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


class LoadProgress:
    """The load's progress on stderr: one line redrawn in place (carriage return) on a terminal.

    Anywhere else (a log, a pipe, CI) redraws would pile up as lines, and the summary line
    already gives the load time, so nothing is written at all.
    """

    def __init__(self, what: str, stream: TextIO) -> None:
        self.what = what
        self.stream = stream
        self.interactive = stream.isatty()
        self.started = time.perf_counter()
        self.last_draw = -1.0
        self.drawn = False
        if self.interactive:  # at once: the tokenizer and the first file take a moment too
            self.draw(f"{what} ...")

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if not self.interactive or (now - self.last_draw < 0.1 and done < total):
            return  # a few redraws a second look smooth and cost nothing
        self.last_draw = now
        percent = 100 * done // total if total else 100
        self.draw(f"{self.what}: {percent:3d}% of {total / 1e6:.0f} MB, {now - self.started:.1f} s")

    def draw(self, line: str) -> None:
        self.stream.write("\r" + line + "\x1b[K")  # \x1b[K: clear the rest of a longer old line
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        """Leave the time it took on the line (on a terminal; elsewhere the summary says it)."""
        if self.interactive:
            self.draw(f"{self.what}: done in {time.perf_counter() - self.started:.1f} s")
        self.abandon()

    def abandon(self) -> None:
        """End the line, so whatever is printed next starts on a fresh one."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def describe_top(tokenizer: Tokenizer, logits: list[float], k: int) -> str:
    """'the' 41.2%  'a' 12.0%  ...: what the model thought of the K likeliest next tokens."""
    probs = softmax(logits)
    return "  ".join(f"{tokenizer.decode([i])!r} {probs[i]:.1%}" for i in top_k_candidates(probs, k))


def run(args: argparse.Namespace) -> int:
    if "look" in args:  # an instrument: see look.py
        return int(args.look(args))
    if is_interactive(args):
        return run_interactive(args)
    prompt = read_prompt(args)
    started = time.perf_counter()
    model = load_model(args)
    load_seconds = time.perf_counter() - started
    try:
        return generate(args, model, prompt, load_seconds, started)
    finally:
        model.close()


def run_interactive(args: argparse.Namespace) -> int:
    """Load once, then prompt after prompt until Ctrl-D (end of input) or Ctrl-C at the prompt.

    Ctrl-C during a generation stops that generation only (generate() catches it).
    """
    try:
        import readline  # noqa: F401  (line editing and history for input(), where available)
    except ImportError:
        pass
    started = time.perf_counter()
    model = load_model(args)
    load_seconds: float | None = time.perf_counter() - started
    try:
        prompt = args.prompt
        while True:
            if prompt is None:
                try:
                    prompt = input("Prompt: ")
                except EOFError:  # Ctrl-D: the normal way out
                    sys.stdout.write("\n")
                    return 0
                except KeyboardInterrupt:  # Ctrl-C at the prompt: leave, cleanly
                    sys.stdout.write("\n")
                    return 130
                started = time.perf_counter()
            try:
                status = generate(args, model, prompt, load_seconds, started)
                if status not in (0, 130):  # killed, or the terminal closed: no one to ask again
                    return status
            except CLIError as e:  # say, a prompt too long for the context: ask for another
                _error(str(e))
            load_seconds, prompt = None, None  # the load is paid once
    finally:
        model.close()


def generate(args: argparse.Namespace, model: GPT2, prompt: str, load_seconds: float | None, waited_since: float) -> int:
    """Print the prompt and its continuation token by token, then the summary line on stderr.

    `waited_since` is when the user started waiting (before the load, if there was one): the
    summary's time to the first token counts from there.
    """
    tokenizer = model.tokenizer
    # An empty prompt starts from <|endoftext|>, as OpenAI's unconditional samples did.
    ids = tokenizer.encode(prompt) if prompt else [tokenizer.eot_id]
    out = sys.stdout
    out.write(prompt)
    out.flush()

    logits_seen: list[list[float]] = []
    decoder = tokenizer.decoder()
    new_ids: list[int] = []
    gen_started = time.perf_counter()
    first_token_at: float | None = None
    status = 0
    try:
        tokens = model.generate(
            ids,
            args.max_new_tokens,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            seed=args.seed,
            stop_at_eot=not args.ignore_eot,
            logits_seen=logits_seen,
        )
        for token in tokens:
            if first_token_at is None:
                first_token_at = time.perf_counter()
            new_ids.append(token)
            if args.show_top:
                out.write(f"\n  [{len(new_ids)}] {tokenizer.decode([token])!r:>16} <- "
                          f"{describe_top(tokenizer, logits_seen[-1], args.show_top)}")
            else:
                out.write(decoder.add(token))
            out.flush()
    except ContextError as e:
        raise CLIError(str(e)) from None
    except KeyboardInterrupt as e:  # Ctrl-C (130), or a kill or a closed terminal (143, 129)
        status = exit_status(e)
    ended = time.perf_counter()
    if args.show_top:
        out.write("\n\n" + prompt + tokenizer.decode(new_ids))
    out.write(decoder.flush() + "\n")
    out.flush()
    print(summary(len(ids), len(new_ids), gen_started, first_token_at, ended, load_seconds, waited_since, status != 0),
          file=sys.stderr)
    return status


def summary(prompt_tokens: int, generated: int, gen_started: float, first_token_at: float | None, ended: float,
            load_seconds: float | None, waited_since: float, interrupted: bool) -> str:
    """potatogpt: 40 tokens in 30.1 s: prompt (10 tokens) 1.20 s, then 0.741 s/token; first token
    after 8.3 s, load 7.1 s.

    The prompt goes through the model as one batch and yields the first token; every later token
    is one decode step.  The two cost very different amounts, so they are reported apart.
    """
    line = f"potatogpt: {generated} tokens in {ended - gen_started:.2f} s"
    if first_token_at is not None:
        line += f": prompt ({prompt_tokens} tokens) {first_token_at - gen_started:.2f} s"
        if generated > 1:
            line += f", then {(ended - first_token_at) / (generated - 1):.3f} s/token"
        line += f"; first token after {first_token_at - waited_since:.2f} s"
    else:
        line += f", prompt {prompt_tokens} tokens"
    if load_seconds is not None:
        line += f", load {load_seconds:.2f} s"
    return line + (" (interrupted)" if interrupted else "")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        with termination_signals_interrupt():  # a `kill` or a closed terminal cleans up like Ctrl-C
            args = parse_args(argv)
            if sys.stdout is None:  # started with `>&-`: there is nowhere to write the text
                return _error("standard output is closed; redirect it to a file (or /dev/null) instead")
            if isinstance(sys.stdout, io.TextIOWrapper):
                # GPT-2 can write any Unicode; a terminal that can't show a character gets a "?".
                sys.stdout.reconfigure(errors="replace")
            status = run(args)
    except (CLIError, WorkerError) as e:
        return _error(str(e))
    except KeyboardInterrupt as e:
        _say("\npotatogpt: interrupted")
        return exit_status(e)
    except MemoryError:
        return _error("out of memory; try --low-memory, or a smaller --model")
    except BrokenPipeError:
        # The reader went away (say, `| head`): stop quietly, as other command-line tools do.
        discard_output(sys.stdout)
        return 1
    except OSError as e:
        # Everything the program reads is checked where it is read; what is left is the output.
        return _error(finish_output() or f"{e.filename or 'output'}: {e.strerror or e}")
    problem = finish_output()  # a full disk shows only when the last of the output is flushed
    return _error(problem) if problem else status


# --- Reporting without a traceback, whatever state stdout and stderr are in ---------------------
def _say(message: str) -> None:
    try:
        print(message, file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):  # no terminal left (SIGHUP) or stderr closed
        pass


def _error(message: str) -> int:
    _say(f"potatogpt: error: {message}")
    return 1


def _whole_number(text: str) -> int:
    """int(text), refusing numbers too long to mean anything (int() is slow, then refuses, past 4300 digits)."""
    if len(text.strip().lstrip("+-")) > MAX_DIGITS:
        raise argparse.ArgumentTypeError(f"{text[:10]}... is {len(text)} characters long; no setting needs "
                                          f"more than {MAX_DIGITS} digits")
    return int(text)


MAX_DIGITS = 18
# A 1024-token context holds at most 1024 x 66 characters (GPT-2's longest token): twice that.
MAX_PROMPT_CHARS = 131_072
