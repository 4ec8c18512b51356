"""`python -m potatogpt "some prompt"`: load GPT-2 and watch it write, one token at a time."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from ..api import GPT2, ContextError
from ..sampling import softmax, top_k_candidates
from ..tokenizer import Tokenizer
from .console import exit_status
from .options import (
    CLIError,
    add_model_options,
    check_model_options,
    error,
    load_model,
    non_negative_float,
    non_negative_int,
    positive_int,
    probability,
    seed_number,
)

# A 1024-token context holds at most 1024 x 66 characters (GPT-2's longest token): twice that.
MAX_PROMPT_CHARS = 131_072

EXAMPLES = """\
examples:
  python -m potatogpt "Alan Turing theorized that computers would one day become"
  python -m potatogpt -n 20 --temperature 0.8 --top-k 40 --seed 1 "Once upon a time"
  python -m potatogpt --show-top 5 -n 8 "The capital of France is"
  echo "To be, or not to be" | python -m potatogpt --model 355M
  python -m potatogpt --model 355M "Hello"     # downloads and exports weights/355M first if missing
  python -m potatogpt -i --packed              # load once, then prompt after prompt (Ctrl-D ends)
  python -m potatogpt --packed --jobs 2 "The meaning of life is"

look inside (python -m potatogpt INSTRUMENT --help): trace, tokens, score, attention, lens, sample;
  each with --html FILE as a page; python -m potatogpt report TEXT --html FILE for all six
train a model: python -m potatogpt train --out DIR (see --help); check its gradients: python -m potatogpt gradcheck DIR
"""



def parse_args(argv: Sequence[str]) -> argparse.Namespace:
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
    parser.add_argument("-i", "--interactive", action="store_true",
                        help="after each generation ask for another prompt (the default at a terminal "
                             "without a PROMPT); Ctrl-D or Ctrl-C at the prompt ends")
    parser.add_argument("--show-top", type=positive_int, default=None, metavar="K",
                        help="after each token, show the K most likely next tokens and their probabilities")
    add_model_options(parser)
    parser.set_defaults(run=run)
    args = parser.parse_args(argv)
    check_model_options(parser, args)
    if args.temperature == 0.0 and (args.top_k is not None or args.top_p is not None or args.seed is not None):
        parser.error("--top-k, --top-p and --seed only matter when sampling: add --temperature (e.g. 0.8)")
    return args


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


def describe_top(tokenizer: Tokenizer, logits: list[float], k: int) -> str:
    """'the' 41.2%  'a' 12.0%  ...: what the model thought of the K likeliest next tokens."""
    probs = softmax(logits)
    return "  ".join(f"{tokenizer.decode([i])!r} {probs[i]:.1%}" for i in top_k_candidates(probs, k))


def run(args: argparse.Namespace) -> int:
    """The default command: generate from the prompt, or prompt after prompt."""
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
            except CLIError as e:  # say, a prompt too long for the context: ask for another
                error(str(e))
                status = 0
            except KeyboardInterrupt as e:  # before generate() got going (encoding a long prompt)
                sys.stdout.write("\n")
                status = exit_status(e)
            if status not in (0, 130):  # killed, or the terminal closed: no one to ask again
                return status
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
    logits_seen: list[list[float]] = []
    decoder = tokenizer.decoder()
    new_ids: list[int] = []
    gen_started = time.perf_counter()
    first_token_at: float | None = None
    status = 0
    try:  # (from the first character out: a Ctrl-C after it always gets its summary line)
        out.write(prompt)
        out.flush()
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


