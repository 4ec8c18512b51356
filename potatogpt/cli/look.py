"""`python -m potatogpt trace|tokens|score|attention|lens|sample TEXT`: look inside GPT-2.

Each subcommand is one classroom instrument: it computes with instruments.py and prints a
plain-text table, or with `--html FILE` writes the same result as a self-contained page
(potatogpt/pages/).  main.py hands any command line that starts with one of INSTRUMENTS to
`parse_args` here and then runs it (`look`) inside its own error handling.  report.py puts all six
pages' sections into one page, with the helpers here.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import pages
from ..api import GPT2
from ..config import GPT2Config
from ..instruments import (
    Call,
    LabColumn,
    Pass,
    Setting,
    attention_patterns,
    brand_sizes,
    explain_tokens,
    field_types,
    lens_grid,
    logit_lens,
    rank_of,
    sampling_lab,
    score,
    trace,
    type_name,
)
from ..model import Linear
from ..sampling import softmax, top_k_candidates
from ..tensor import Ctx, Seq, Tensor
from ..tokenizer import EOT_TEXT, Tokenizer
from .options import CLIError, add_model_options, load_model, non_negative_float, positive_int, probability, say

# The instruments, one subcommand each.
INSTRUMENTS = ("trace", "tokens", "score", "attention", "lens", "sample")

EXAMPLES = """\
examples (the tiny checkpoint works too: --weights <an export of checkpoints/tiny-vocab>):
  python -m potatogpt trace "Hello, my name is"
  python -m potatogpt tokens "Andrej Karpathy 🤗"
  python -m potatogpt score "The quick brown fox jumps over the lazy dog."
  python -m potatogpt attention "The cat sat on the mat" --layer 5 --head 1
  python -m potatogpt lens "The Eiffel Tower is in the city of"
  python -m potatogpt sample "The capital of France is" --expect " Paris"
  python -m potatogpt attention "The cat sat on the mat" --layer 1 --head 0 --html cat.html
  python -m potatogpt report "The cat sat on the mat" --html handout.html   (all six on one page)
"""

HTML_HELP = ("write the picture to FILE as one self-contained HTML page (no network, opens in any browser) "
             "instead of printing the text; '-' writes the page to standard output")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="potatogpt", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Look inside GPT-2: one instrument per subcommand (each has its own --help).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="INSTRUMENT")
    model_options = argparse.ArgumentParser(add_help=False)
    add_model_options(model_options, speed=False)  # the instruments always use exact weights in one process

    def command(name: str, run: Callable[[argparse.Namespace], None], help: str, *,
                needs_model: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, parents=[model_options] if needs_model else [])
        sub.add_argument("text", help="the text to look at")
        sub.add_argument("--html", default=None, metavar="FILE", help=HTML_HELP)
        sub.set_defaults(run=look, instrument=run)
        return sub

    command("trace", run_trace, "every stage of one forward pass (the prompt, then one cached decode step), "
            "with each operand's shape and the brands of model.py's type annotations")
    command("tokens", run_tokens, "how the tokenizer cuts the text: bytes, pre-tokens, each BPE merge, token ids "
            "(no weights needed)", needs_model=False)
    command("score", run_score, "how surprised the model is by each token of the text (scored after "
            f"{EOT_TEXT}, GPT-2's start of a document): probability, bits, perplexity")
    attention = command("attention", run_attention, "who attends to whom: every head in brief, or one head "
                        "(--layer and --head) as a heat map with each token's strongest positions")
    attention.add_argument("--layer", type=int, default=None, help="a layer (0 is the first); alone, lists its heads "
                           "(with --html: the layer of the head drawn large, default 0)")
    attention.add_argument("--head", type=int, default=None, help="a head of --layer (0 is the first; with --html "
                           "the default is 0)")
    attention.add_argument("--top", type=positive_int, default=3, metavar="N", help="positions shown per token (default 3)")
    lens = command("lens", run_lens, "logit lens: the next-token guesses read off after the embeddings and after "
                   "every block, at the last position (final layer norm + the tied output layer). Early layers "
                   "read poorly through a plain logit lens: their residual stream is not yet in the output "
                   "layer's coordinates, so treat their guesses as a rough hint, not as what the model 'thinks'")
    lens.add_argument("--top", type=positive_int, default=5, metavar="K", help="guesses per row (default 5); with "
                      "--html, per cell (the page shows every position: the output layer once per stage and "
                      "position, several times the forward pass on big models)")
    sample = command("sample", run_sample, "sampling lab: one forward pass, then many seeded draws of the next "
                     "token under several settings side by side")
    sample.add_argument("--try", dest="settings", type=setting, action="append", default=None, metavar="SETTING",
                        help="a setting such as 'T=0.7', 'T=1,k=40' or 'p=0.9' (T: temperature, 0 = greedy, "
                             "default 1; k: top-k; p: top-p); repeat for more columns "
                             "(default: T=1, T=0.5, T=1 k=10, T=1 p=0.9, T=1 p=0.5)")
    sample.add_argument("--draws", type=positive_int, default=100, metavar="N", help="draws per setting (default 100)")
    sample.add_argument("--seed", type=int, default=0, help="random seed (default 0): the same seed, the same draws")
    sample.add_argument("--rows", type=positive_int, default=12, metavar="N", help="tokens listed (default 12)")
    sample.add_argument("--expect", default=None, metavar="TOKEN",
                        help="report one token's rank and probability, e.g. ' Paris' (mind the leading space); "
                             "printed as text, with --html FILE too")
    return parser.parse_args(argv)


DEFAULT_SETTINGS = (Setting(1.0), Setting(0.5), Setting(1.0, top_k=10), Setting(1.0, top_p=0.9),
                    Setting(1.0, top_p=0.5))


def setting(text: str) -> Setting:
    """'T=1,k=40' -> Setting(1.0, top_k=40)."""
    values: dict[str, str] = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        if key.strip().upper() not in ("T", "K", "P") or not value:
            raise argparse.ArgumentTypeError(f"{text!r}: write settings as T=0.7, k=40, p=0.9, joined by commas")
        values[key.strip().upper()] = value.strip()
    try:
        return Setting(non_negative_float(values.get("T", "1")),
                       positive_int(values["K"]) if "K" in values else None,
                       probability(values["P"]) if "P" in values else None)
    except ValueError as e:  # (argparse's ArgumentTypeError included)
        raise argparse.ArgumentTypeError(f"{text!r}: {e}") from None


def look(args: argparse.Namespace) -> int:
    """Run the chosen instrument (main.py calls this; its errors are reported as main reports
    any other: one line on stderr)."""
    if not args.text:
        raise CLIError("the text is empty: give some text to look at")
    if args.html is not None:
        check_page_path(args.html)  # before the load: a mistyped folder should not cost one
    args.instrument(args)
    return 0


# --- Shared pieces ------------------------------------------------------------------------------
def encode(model: GPT2, text: str, *, decode_step: bool = False) -> list[int]:
    """The text's ids, refused in one line if they (and a decode step after them) overflow the context."""
    ids = model.tokenizer.encode(text)
    if len(ids) + decode_step > model.config.n_ctx:
        also = " and the decode step needs one more position" if decode_step else ""
        raise CLIError(f"the text is {len(ids)} tokens{also}, but the model's context is "
                       f"{model.config.n_ctx} positions: shorten it")
    too_big = [i for i in ids if i >= model.config.vocab_size]
    if too_big:
        raise CLIError(f"token id {too_big[0]} is outside this model's vocabulary of {model.config.vocab_size}")
    return ids


def token_label(tokenizer: Tokenizer, token: int) -> str:
    """A token as Python would write its text: "' the'"; a piece of a character as its bytes."""
    data = tokenizer.decode_bytes([token])
    try:
        return repr(data.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(data)


def percent(p: float) -> str:
    """'12.3%', or '4.7e-05' for a probability too small to show that way."""
    return f"{p:.1%}" if p >= 0.001 else f"{p:.1e}"


def print_lines(lines: Sequence[str]) -> None:
    print("\n".join(lines))


def check_head(config: GPT2Config, layer: int | None, head: int | None) -> None:
    """Refuse a --layer or --head the model does not have, in one line."""
    n_layer, n_head = config.n_layer, config.n_head
    if layer is not None and not 0 <= layer < n_layer:
        raise CLIError(f"--layer {layer}: this model's layers are 0-{n_layer - 1}")
    if head is not None and (layer is None or not 0 <= head < n_head):
        raise CLIError(f"--head {head}: give --layer too; this model's heads are 0-{n_head - 1}"
                       if layer is None else f"--head {head}: this model's heads are 0-{n_head - 1}")


# --- Pages (--html) -----------------------------------------------------------------------------
STANDARD_OUTPUT = "-"
# The lens page puts every position through the output layer after every stage; past this many
# multiply-adds (124M at about four positions: tens of seconds) it says so before it starts.
LENS_WARNING = 2e9


def page_path(text: str) -> Path:
    """Where --html FILE goes: through a symbolic link to the file it names (write_page renames a
    finished page into place, which would otherwise replace the link itself)."""
    return Path(os.path.realpath(text))


def check_page_path(text: str) -> None:
    """Refuse, in one line, a --html FILE that cannot be written, before anything is computed.
    (write_page checks again as it writes, and leaves nothing behind when it fails.)"""
    if text == STANDARD_OUTPUT:
        return
    cannot = f"cannot write the page to {text}"
    if not text:
        raise CLIError("--html needs a file name, such as page.html")
    path = page_path(text)
    if path.is_dir():
        raise CLIError(f"{cannot}: it is a folder; give a file name such as {Path(text) / 'page.html'}")
    if path.exists() and not path.is_file():
        # A FIFO, a device, a socket: the finished page would be renamed over it, not written into it.
        raise CLIError(f"{cannot}: it is not a regular file (a FIFO, a device or a socket); give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise CLIError(f"{cannot}: the file is read-only; choose another name or make it writable")
    folder = path.parent
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        raise CLIError(f"{cannot}: {folder} {problem}; create the folder first or choose another")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CLIError(f"{cannot}: the folder {folder} is read-only; choose a folder you can write to")


def emit_page(text: str, document: str, what: str) -> None:
    """Write `document` to --html's FILE, whole or not at all, and say so in one line (or write it
    to standard output, for '-')."""
    if text == STANDARD_OUTPUT:
        sys.stdout.write(document)
        return
    try:
        written = pages.write_page(page_path(text), document)
    except pages.PageWriteError as e:
        raise CLIError(str(e)) from None
    size = written.stat().st_size
    print(f"wrote {what} to {text} ({size / 1000:.0f} kB): open it in any browser, no network needed")


def write_section(args: argparse.Namespace, section: pages.Section) -> None:
    """One instrument's page, for --html."""
    emit_page(args.html, pages.standalone(section, subject=args.text), f"the {section.title} page")


def warn_about_lens_cost(config: GPT2Config, n_positions: int) -> None:
    """On a big model the lens grid costs several forward passes: say so before starting."""
    stages = config.n_layer + 1
    work = stages * n_positions * config.vocab_size * config.n_embd
    forward = n_positions * 12 * config.n_layer * config.n_embd ** 2 + config.vocab_size * config.n_embd
    if work > LENS_WARNING:
        say(f"potatogpt: the lens page reads all {n_positions} positions through the {config.vocab_size} x "
            f"{config.n_embd} output layer after each of {stages} stages, about {work / forward:.0f} times the "
            "work of the forward pass: this takes a while (a shorter text is quicker; Ctrl-C stops)")


# --- trace --------------------------------------------------------------------------------------
UNITS = {"transformer_block": "block", "attention": "head"}  # repeated stages, and what each repeat is


def run_trace(args: argparse.Namespace) -> None:
    model = load_model(args)
    passes = trace(model, encode(model, args.text, decode_step=True))
    if args.html is not None:
        write_section(args, passes.section())
        return
    for i, forward_pass in enumerate(passes):
        if i:
            print()
        print_lines(format_pass(forward_pass, model.tokenizer))


def format_pass(forward_pass: Pass, tokenizer: Tokenizer) -> list[str]:
    ids, start = forward_pass.ids, forward_pass.start
    where = f"position {start}" if len(ids) == 1 else f"positions {start}-{start + len(ids) - 1}"
    text = " ".join(token_label(tokenizer, i) for i in ids)
    chosen = " (the greedy choice after the prompt)" if forward_pass.start else ""
    header = (f"{forward_pass.name}: {text}{chosen} at {where}; "
              f"the KV cache grows from {start} to {start + len(ids)} positions")
    sizes = "  ".join(f"{brand}={'/'.join(map(str, sorted(n)))}" for brand, n in brand_sizes(forward_pass).items())
    return [header, *format_calls(forward_pass.calls, forward_pass, depth=1), f"  sizes: {sizes}"]


def format_calls(calls: list[Call], forward_pass: Pass, depth: int) -> list[str]:
    """One line per call, its inner calls indented below; a run of identical repeats (the
    blocks, the heads) is shown once, then 'blocks 1-11: same as block 0'."""
    lines: list[str] = []
    seen: dict[str, int] = {}  # stage -> how many of its calls came before, among these
    i = 0
    while i < len(calls):
        stage = calls[i].stage
        first = seen.get(stage, 0)
        shown = format_call(calls[i], forward_pass, depth)
        repeats = 1
        while i + repeats < len(calls) and format_call(calls[i + repeats], forward_pass, depth) == shown:
            repeats += 1
        unit = UNITS.get(stage)
        if unit:
            shown = [f"{shown[0]}   ({unit} {first})", *shown[1:]]
        lines += shown
        if repeats > 1:
            name = unit or f"{stage} call"
            span = f"{name} {first + 1}" if repeats == 2 else f"{name}s {first + 1}-{first + repeats - 1}"
            lines.append(f"{'  ' * depth}{span}: same as {name} {first}")
        seen[stage] = first + repeats
        i += repeats
    return lines


def format_call(call: Call, forward_pass: Pass, depth: int) -> list[str]:
    types = forward_pass.types[id(call)]
    operands = [shown for name, value in call.args.items()
                if (shown := describe(name, value, types[name], call.shapes.get(name))) is not None]
    joined = " @ ".join(operands) if call.stage == "linear" else ", ".join(operands)
    result = describe("return", call.result, types["return"], call.shapes.get("return"))
    return [f"{'  ' * depth}{call.stage}: {joined} -> {result}", *format_calls(call.inner, forward_pass, depth + 1)]


def describe(name: str, value: object, hint: object, shape: tuple[int, int] | None) -> str | None:
    """An argument as the trace shows it: a tensor as its type and its shape when called; ids
    and ints briefly; the rest (configs, caches, layer-norm parameters) not at all."""
    if shape is not None:
        return f"{type_name(hint)} {shape}"
    if isinstance(value, Linear):  # the product's right operand is the layer's weight
        return describe(name, value.weight, field_types(hint)["weight"], value.weight.shape)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{name}={value}"
    if isinstance(value, (list, tuple)):
        return f"{len(value)} id{'s' * (len(value) != 1)}"
    return None


# --- tokens -------------------------------------------------------------------------------------
def run_tokens(args: argparse.Namespace) -> None:
    if args.html is not None:
        write_section(args, explain_tokens(Tokenizer.gpt2(), args.text).section())
        return
    print_lines(format_tokens(Tokenizer.gpt2(), args.text))


def format_tokens(tokenizer: Tokenizer, text: str) -> list[str]:
    words = explain_tokens(tokenizer, text)
    text = "".join(word.text for word in words)  # (as the tokenizer read it: see explain_tokens)
    ids = [i for word in words for i in word.ids]
    lines = [
        f"text: {text!r} ({len(text)} characters, {len(text.encode('utf-8'))} bytes of UTF-8)",
        "1. pre-tokenizer pieces (BPE never merges across two): " + " ".join(repr(w.text) for w in words),
        "2. each piece's bytes as GPT-2's printable symbols (the space byte is Ġ), then BPE's merges:",
        "   the earliest-learned pair (lowest rank) first, until no adjacent pair is a known merge",
    ]
    for word in words:
        lines.append(f"     {word.text!r:<16} {' '.join(word.symbols)}")
        for rank, (left, right), parts in word.merges:
            lines.append(f"       rank {rank:<6} {left}+{right} -> {' '.join(parts)}")
    lines.append(f"3. {len(ids)} tokens, each piece looked up in the vocabulary (id, piece, what it stands for):")
    lines += [f"     {i:>6}  {piece:<12} {token_label(tokenizer, i)}"
              for word in words for i, piece in zip(word.ids, word.tokens)]
    return lines


# --- score --------------------------------------------------------------------------------------
def run_score(args: argparse.Namespace) -> None:
    model = load_model(args)
    # The first token is scored after <|endoftext|>; the last is only scored, never fed in.
    ids = [model.tokenizer.eot_id, *encode(model, args.text)]
    if args.html is not None:
        write_section(args, score(model, ids).section())
        return
    print_lines(format_score(model.tokenizer, ids, model.score(ids)))


def format_score(tokenizer: Tokenizer, ids: Sequence[int], log_probs: Sequence[float]) -> list[str]:
    lines = [f"{'pos':>4}  {'token':<16} {'probability':>11} {'surprisal':>10}"]
    for position, (token, log_p) in enumerate(zip(ids[1:], log_probs), start=1):
        lines.append(f"{position:>4}  {token_label(tokenizer, token):<16} {percent(math.exp(log_p)):>11} "
                     f"{-log_p / math.log(2):>7.2f} bits")
    mean_nll = -sum(log_probs) / len(log_probs)
    lines.append(f"{len(log_probs)} tokens: {mean_nll / math.log(2):.3f} bits per token on average, "
                 f"perplexity {math.exp(mean_nll):.2f} (= exp of the mean negative log-likelihood, {mean_nll:.4f} nats)")
    return lines


# --- attention ----------------------------------------------------------------------------------
SHADES = ".:-=+*#%@"  # weight 0-0.11 ... 0.89-1; positions a token cannot see are blank


def run_attention(args: argparse.Namespace) -> None:
    model = load_model(args)
    check_head(model.config, args.layer, args.head)
    ids = encode(model, args.text)
    patterns = attention_patterns(model, ids)
    if args.html is not None:
        write_section(args, patterns.section(layer=args.layer or 0, head=args.head or 0, top=args.top))
        return
    labels = [token_label(model.tokenizer, i) for i in ids]
    layer: int | None = args.layer
    head: int | None = args.head
    if layer is not None and head is not None:
        print_lines(format_head(patterns[layer][head], labels, layer, head, args.top))
    else:
        layers = range(model.config.n_layer) if args.layer is None else [args.layer]
        print_lines(format_heads(patterns, layers, labels))


def format_head(weights: Tensor[Seq, Ctx], labels: Sequence[str], layer: int, head: int, top: int) -> list[str]:
    width = max(len(label) for label in labels)
    lines = [f"layer {layer}, head {head}: row i is where token i looks (its weights over positions 0..i sum to 1)",
             f"{'':>{width + 5}}{''.join(f'{j:>3}' for j in range(len(labels)))}   strongest positions"]
    for i, (label, row) in enumerate(zip(labels, weights.rows)):
        cells = "".join(f"{SHADES[min(len(SHADES) - 1, int(w * len(SHADES)))]:>3}" for w in row[: i + 1])
        strongest = top_k_candidates(row[: i + 1], top)
        best = "  ".join(f"{j} {labels[j]} {row[j]:.3f}" for j in strongest)
        lines.append(f"{i:>3}  {label:<{width}}{cells:<{3 * len(labels)}}   {best}")
    lines.append(f"shades: {' '.join(f'{c}<{(k + 1) / len(SHADES):.2f}' for k, c in enumerate(SHADES[:-1]))} "
                 f"{SHADES[-1]}>={1 - 1 / len(SHADES):.2f}")
    return lines


def format_heads(patterns: Sequence[Sequence[Tensor[Seq, Ctx]]], layers: Sequence[int],
                 labels: Sequence[str]) -> list[str]:
    """One line per head: the average weight a token gives to the first position, to the token
    just before it and to itself (tokens that have those; common head types), and its strongest link."""
    lines = [f"{'head':<6} {'first':>6} {'prev':>6} {'self':>6}   strongest single weight"]
    for layer in layers:
        for head, weights in enumerate(patterns[layer]):
            rows = weights.rows
            first = mean([row[0] for row in rows[1:]])
            previous = mean([row[i - 1] for i, row in enumerate(rows) if i >= 1])
            itself = mean([row[i] for i, row in enumerate(rows) if i >= 1])
            # (Token 0 can only look at itself: its weight 1 says nothing about the head.)
            links = [(i, j) for i in range(1, len(rows)) for j in range(i + 1)]
            strongest = ""
            if links:
                i, j = max(links, key=lambda ij: rows[ij[0]][ij[1]])
                strongest = f"{labels[i]} -> {labels[j]} {rows[i][j]:.3f}"
            lines.append(f"{layer}.{head:<4} {first:>6.3f} {previous:>6.3f} {itself:>6.3f}   {strongest}")
    lines.append("(first, prev, self: the mean weight tokens 1.. give position 0, the token before them, themselves)")
    return lines


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


# --- lens ---------------------------------------------------------------------------------------
def run_lens(args: argparse.Namespace) -> None:
    model = load_model(args)
    ids = encode(model, args.text)
    if args.html is not None:
        warn_about_lens_cost(model.config, len(ids))
        write_section(args, lens_grid(model, ids, top=args.top).section())
        return
    rows = logit_lens(model, ids)
    print(f"the next token after {token_label(model.tokenizer, ids[-1])}, read off the residual stream "
          "after each stage (early stages read poorly through a plain logit lens):")
    for row in rows:
        probs = softmax(row.logits)
        guesses = "  ".join(f"{token_label(model.tokenizer, i)} {percent(probs[i])}"
                            for i in top_k_candidates(probs, args.top))
        print(f"{row.label:<9} {guesses}")
    print(f"(the last row, {rows[-1].label}, is the model's real output)")


# --- sample -------------------------------------------------------------------------------------
def run_sample(args: argparse.Namespace) -> None:
    if args.expect is not None and args.html == STANDARD_OUTPUT:
        raise CLIError("--expect prints text, which would land inside the page on standard output: "
                       "write the page to a file (--html FILE)")
    model = load_model(args)
    expected = None if args.expect is None else expected_token(model.tokenizer, args.expect)
    ids = encode(model, args.text)
    logits = model.next_token_logits(ids)
    if args.html is not None:
        lab = sampling_lab(logits, args.settings or DEFAULT_SETTINGS, args.draws, args.seed, tokenizer=model.tokenizer)
        write_section(args, lab.section(after=args.text, rows=args.rows))
        if expected is not None:  # (the page has no place for it)
            print_lines(format_expected(model.tokenizer, logits, lab, expected))
        return
    columns = sampling_lab(logits, args.settings or DEFAULT_SETTINGS, args.draws, args.seed)
    print(f"the next token after {token_label(model.tokenizer, ids[-1])}: {args.draws} draws per setting, "
          f"seed {args.seed}")
    print_lines(format_lab(model.tokenizer, softmax(logits), columns, args.rows))
    if expected is not None:
        print_lines(format_expected(model.tokenizer, logits, columns, expected))


def expected_token(tokenizer: Tokenizer, text: str) -> int:
    ids = tokenizer.encode(text)
    if len(ids) != 1:
        pieces = " + ".join(token_label(tokenizer, i) for i in ids) or "nothing"
        raise CLIError(f"--expect {text!r} is {len(ids)} tokens ({pieces}), not one; try one of them")
    return ids[0]


def format_lab(tokenizer: Tokenizer, base: Sequence[float], columns: Sequence[LabColumn], rows: int) -> list[str]:
    """A column of draw counts per setting, one row per token (the likeliest at T=1 first)."""
    widths = [max(7, len(c.setting.label)) for c in columns]
    drawn = {token for c in columns for token in c.counts}
    listed = sorted(drawn, key=lambda t: (-base[t], t))[:rows]
    header = f"{'token':<16} {'p(T=1)':>8} " + " ".join(f"{c.setting.label:>{w}}" for c, w in zip(columns, widths))
    lines = [header]
    for token in listed:
        counts = " ".join(f"{c.counts[token]:>{w}}" for c, w in zip(columns, widths))
        lines.append(f"{token_label(tokenizer, token):<16} {percent(base[token]):>8} {counts}")
    others = " ".join(f"{sum(n for t, n in c.counts.items() if t not in listed):>{w}}" for c, w in zip(columns, widths))
    lines.append(f"{'(other tokens)':<16} {'':>8} {others}")
    sizes = " ".join(f"{len(c.candidates):>{w}}" for c, w in zip(columns, widths))
    lines.append(f"{'may draw from':<16} {'':>8} {sizes}   (tokens; with top-p, the nucleus size)")
    return lines


def format_expected(tokenizer: Tokenizer, logits: Sequence[float], columns: Sequence[LabColumn], token: int) -> list[str]:
    rank, p = rank_of(logits, token)
    chances = []
    for c in columns:
        inside = token in c.candidates
        chance = percent(c.probs[token] / sum(c.probs[t] for t in c.candidates)) if inside else "not a candidate"
        chances.append(f"{c.setting.label}: {chance}")
    return [f"{token_label(tokenizer, token)} (id {token}): rank {rank} of {len(logits)}, probability {percent(p)} at T=1",
            "  chance per draw: " + ", ".join(chances)]
