"""What each exercise is checked against: potatogpt's own function on real inputs from the tiny
checkpoints, and the classic mistakes, each computed, so a hint is given only when your numbers
are exactly what that mistake produces.

Inputs come from the models themselves (block 0's queries, the MLP's real input, ...), so the
numbers are the ones a GPT-2 forward pass really sees.  Every check computes potatogpt's answer
before it calls yours, and calls yours on copies (Solution.call), so what you are compared with
cannot depend on what your function did.  Structure (the shape returned, what the KV cache holds
afterwards) is checked before values, so a hint about structure is never hidden behind a "wrong
values".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from types import MappingProxyType
from typing import TypeVar

from potatogpt import model, sampling
from potatogpt import tokenizer as bpe_tokenizer
from potatogpt.api import GPT2
from potatogpt.config import GPT2Config
from potatogpt.model import Attention, KVCache, LayerCache, Linear, new_kv_cache, new_layer_cache
from potatogpt.tensor import (
    ONE,
    Ctx,
    Embed,
    HeadDim,
    One,
    Qkv,
    Seq,
    Tensor,
    Vocab,
    Weight,
    concat_columns,
    empty_weight,
    from_rows,
    take_rows,
    transpose,
    weight_from_rows,
)

from . import checks_ex12, checks_ex13, checks_ex14, checks_ex15, checks_ex16, checks_ex17, checks_ex18, checks_ex19, checks_ex20
from .grader import (
    TINY as TINY,
    VOCAB as VOCAB,
    Case,
    Exercise,
    Failed,
    Lab,
    Rows,
    Solution,
    StudentCrashed,
    all_close,
    as_rows,
    check_cases,
    check_close,
    check_equal,
    hint_lines,
    plugged_in,
)
from .inputs import IDS, head_inputs, normed, stream

R = TypeVar("R", bound=int)
C = TypeVar("C", bound=int)

TEXT = "Hello, my name is Alan Turing"  # a prompt for VOCAB


# --- Inputs, computed with potatogpt's own functions ---------------------------------------------
def fresh_cache(config: GPT2Config) -> LayerCache:
    """An empty KV cache for one block."""
    return new_layer_cache(config.n_head, HeadDim(config.head_dim))


def last_rows(x: Tensor[Seq, C], n: int) -> Tensor[Seq, C]:
    """The newest n rows: the queries of the last n tokens, as if the rest were cached."""
    return take_rows(x, range(x.n_rows - n, x.n_rows), Seq(n))


def mapped(x: Tensor[R, C], f: Callable[[float], float]) -> Tensor[R, C] | None:
    """x.map(f), or None where f fails (a variant that would itself overflow is no variant)."""
    try:
        return x.map(f)
    except (OverflowError, ValueError, ZeroDivisionError):
        return None


# --- Exercise 1: bytes and BPE -----------------------------------------------------------------
MERGE_CASES: list[tuple[list[str], tuple[str, str]]] = [
    (["a", "a", "a"], ("a", "a")),
    (["a", "a", "a", "a"], ("a", "a")),
    (["a", "b", "a", "b", "c"], ("a", "b")),
    (["Ġ", "t", "h", "e"], ("t", "h")),
    (["xa", "b", "a", "b"], ("a", "b")),  # "a b" inside "xa b": only whole parts merge
    (["x"], ("x", "y")),
    ([], ("a", "b")),
]


def merge_first_only(parts: list[str], pair: tuple[str, str]) -> list[str]:
    for i in range(len(parts) - 1):
        if (parts[i], parts[i + 1]) == pair:
            return [*parts[:i], pair[0] + pair[1], *parts[i + 2:]]
    return list(parts)


def merge_right_to_left(parts: list[str], pair: tuple[str, str]) -> list[str]:
    reversed_pair = (pair[1], pair[0])
    return [p[::-1] for p in bpe_tokenizer.merge([p[::-1] for p in reversed(parts)], reversed_pair)][::-1]


def merge_no_skip(parts: list[str], pair: tuple[str, str]) -> list[str]:
    """Each matching position merged, without stepping past a pair once merged: overlaps doubled."""
    out = []
    for i, part in enumerate(parts):
        if i + 1 < len(parts) and (part, parts[i + 1]) == pair:
            out.append(part + parts[i + 1])
        elif not (i > 0 and (parts[i - 1], part) == pair):
            out.append(part)
    return out


def merge_by_replace(parts: list[str], pair: tuple[str, str]) -> list[str]:
    joined = " ".join(parts).replace(f"{pair[0]} {pair[1]}", pair[0] + pair[1])
    return joined.split(" ") if parts else []


def bpe_variant(symbols: str, ranks: Mapping[tuple[str, str], int], pick: Callable[[list[tuple[str, str]]], tuple[str, str]],
                max_merges: int = 10**9) -> list[str]:
    """BPE that merges the pair `pick` chooses among the known ones, at most max_merges times."""
    parts = list(symbols)
    for _ in range(max_merges):
        known = [pair for pair in zip(parts, parts[1:]) if pair in ranks]
        if not known:
            break
        parts = bpe_tokenizer.merge(parts, pick(known))
    return parts


def byte_table(printable: Sequence[int], first: int = 256) -> dict[int, str]:
    """bytes_to_unicode's rule with another set of printable bytes or another first stand-in."""
    table = {b: chr(b) for b in printable}
    for n, b in enumerate(b for b in range(256) if b not in table):
        table[b] = chr(first + n)
    return table


def check_tokenizer(s: Solution, lab: Lab) -> None:
    want_table = bpe_tokenizer.bytes_to_unicode()
    table = s.call("bytes_to_unicode")
    if table != want_table:
        got = table if isinstance(table, dict) else {}
        wrong = [b for b in range(256) if got.get(b) != want_table[b]]
        lines = [f"bytes_to_unicode(): {len(wrong)} of the 256 bytes have the wrong symbol",
                 f"  the first wrong one is byte {wrong[0]}: yours {got.get(wrong[0])!r}, expected {want_table[wrong[0]]!r}"]
        rule = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
        tables = {
            "every byte stands for itself; the 68 that are not printable Latin-1 (control codes, space, DEL, 0xA0, "
            "0xAD) must take chr(256), chr(257), ... in byte order": {b: chr(b) for b in range(256)},
            "0xAD (the soft hyphen) is not printable: the ranges are '¡'..'¬' and '®'..'ÿ', and 0xAD takes a stand-in":
                byte_table([*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("ÿ") + 1)]),
            "the stand-ins start one too late: the first non-printable byte (0) takes chr(256)": byte_table(rule, 257),
            "the stand-ins start at chr(255): the first non-printable byte (0) takes chr(256)": byte_table(rule, 255),
            "'¡'..'¬' and '®'..'ÿ' are missing: those Latin-1 bytes stand for themselves too":
                byte_table(range(ord("!"), ord("~") + 1)),
        }
        raise Failed(lines + (hint_lines([hint for hint, variant in tables.items() if got == variant])
                              or ["  (none of the classic mistakes this grader knows gives this)"]))

    for parts, pair in MERGE_CASES:
        want_parts = bpe_tokenizer.merge(parts, pair)
        check_equal(f"merge({parts}, {pair})", s.call("merge", parts, pair), want_parts, lambda: {
            "only the first occurrence was merged: keep going to the end of the list": merge_first_only(parts, pair),
            "merged from the right: scan left to right, and step past a pair once it is merged":
                merge_right_to_left(parts, pair),
            "a merged pair was used again: after merging parts[i] and parts[i + 1], go on from i + 2":
                merge_no_skip(parts, pair),
            "merged with str.replace on the joined text: that also matches across parts ('xa' 'b' holds 'a b'); "
            "compare whole parts, parts[i] == pair[0] and parts[i + 1] == pair[1]": merge_by_replace(parts, pair),
        })

    ranks = lab.ranks
    read_only = MappingProxyType(ranks)  # (what the student gets: a table no function can write into)
    words = sorted({word for text, _ids in lab.corpus for word in bpe_tokenizer.pre_tokenize(text)})
    mismatches: list[tuple[str, list[str], object]] = []
    for word in words:
        symbols = "".join(bpe_tokenizer.BYTE_TO_UNICODE[b] for b in word.encode("utf-8", "replace"))
        want = bpe_tokenizer.bpe(symbols, ranks)
        pieces = s.call("bpe", symbols, read_only)
        if pieces != want:
            if not isinstance(pieces, list):
                check_equal(f"bpe({symbols!r}, ranks)", pieces, want)
            mismatches.append((symbols, want, pieces))
            if len(mismatches) >= 200:
                break
    if mismatches:
        variants: dict[str, Callable[[str], list[str]]] = {
            "the latest-learned pair was merged first: pick the LOWEST rank":
                lambda w: bpe_variant(w, ranks, lambda known: max(known, key=ranks.__getitem__)),
            "the leftmost known pair was merged first: pick the pair with the lowest rank, wherever it is":
                lambda w: bpe_variant(w, ranks, lambda known: known[0]),
            "only one merge happened: repeat until no adjacent pair is in ranks":
                lambda w: bpe_variant(w, ranks, lambda known: min(known, key=ranks.__getitem__), 1),
            "the word was never split: start from one part per symbol, list(symbols)": lambda w: [w],
        }
        # A hint only when the mistake reproduces every word you got wrong (so two never both claim it
        # unless they truly agree on all of them).
        explained = [hint for hint, variant in variants.items()
                     if all(variant(symbols) == pieces for symbols, _want, pieces in mismatches)]
        symbols, want, pieces = mismatches[0]
        check_equal(f"bpe({symbols!r}, ranks) ({len(mismatches)}{'+' if len(mismatches) >= 200 else ''} "
                    "words split wrongly)", pieces, want,
                    lambda: {hint: variants[hint](symbols) for hint in explained})

    bpe_function = s.function("bpe")
    with plugged_in(bpe_tokenizer, {"bpe": bpe_function}):
        tokenizer = bpe_tokenizer.Tokenizer.gpt2()  # a fresh one: nothing cached from before
        for text, ids in lab.corpus:
            check_equal(f"encode({text[:30]!r}) with your bpe (tiktoken's ids)", tokenizer.encode(text), ids)


# --- Exercise 2: embeddings ----------------------------------------------------------------------
def check_embedding(s: Solution, lab: Lab) -> None:
    gpt = lab.model(VOCAB)
    params, n_ctx = gpt.params, gpt.config.n_ctx
    text_ids = lab.tokenizer.encode(TEXT)
    full = (text_ids * n_ctx)[:n_ctx]  # a prompt that fills the whole context
    # After 5 cached positions first: it tells the position mistakes apart.
    cases = []
    for ids, start, what in ((text_ids, 5, f"{len(text_ids)} ids after 5 cached"), (text_ids, 0, f"{len(text_ids)} ids, empty cache"),
                             (full, 0, f"{n_ctx} ids, the whole context"), (text_ids[:1], n_ctx - 1, f"1 id at the last position, {n_ctx - 1}")):
        cases.append(Case(f"embed({what}: start={start})", stream(gpt, ids, start), partial(s.call, "embed", ids, params, start),
                          partial(embed_variants, gpt, ids, start),
                          {(1, gpt.config.n_embd): "one row: embed returns one row per id"}))
    check_cases(cases)


def embed_variants(gpt: GPT2, ids: Sequence[int], start: int) -> dict[str, object]:
    params, n_ctx, seq = gpt.params, gpt.config.n_ctx, Seq(len(ids))

    def at(first: int) -> Tensor[Seq, Embed] | None:
        return stream(gpt, ids, first) if 0 <= first and first + seq <= n_ctx else None

    variants = {
        "only the token vectors: add the position vectors (rows of wpe) too": params.wte.lookup(ids, seq),
        "only the position vectors: add the token vectors (rows of wte, picked by id) too":
            params.wpe.lookup(range(start, start + seq), seq),
        "the positions started at 0: the first id is at position `start`": at(0),
        "the positions are one too far on: the first id is at position `start`, not start + 1": at(start + 1),
        "the positions are one short: the first id is at position `start`, not start - 1": at(start - 1),
        "every token got position start's vector: token i is at position start + i":
            params.wte.lookup(ids, seq) + params.wpe.lookup([start] * seq, seq),
        "the positions started at len(ids): the first id is at position `start`": at(seq),
    }
    return {hint: value for hint, value in variants.items() if value is not None}


# --- Exercise 3: GELU ----------------------------------------------------------------------------
GELU_C = 0.044715
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def fitted(got: Rows, x: Rows, solve: Callable[[float, float], float]) -> float | None:
    """The one constant that explains every element (solve(x, y) for each), or None."""
    values = []
    for x_row, y_row in zip(x, got):
        for v, y in zip(x_row, y_row):
            if 0.5 < abs(v) < 2.5:  # (where the term matters and tanh is not saturated)
                try:
                    values.append(solve(v, y))
                except (ValueError, ZeroDivisionError):
                    return None
    if len(values) < 3:
        return None
    low, high = min(values), max(values)
    return (low + high) / 2 if high - low <= 1e-6 * max(abs(high), 1e-9) else None


def constant_slips(got: Rows, x: Rows) -> list[str]:
    """A GELU whose 0.044715 or sqrt(2/pi) is off: which number, found from your own outputs."""
    out = []
    c = fitted(got, x, lambda v, y: (math.atanh(2 * y / v - 1) / SQRT_2_OVER_PI - v) / v**3)
    if c is not None and not math.isclose(c, GELU_C, rel_tol=1e-9):
        out.append(f"your cubic term's constant is {c:.6g}; the formula's is 0.044715")
    s = fitted(got, x, lambda v, y: math.atanh(2 * y / v - 1) / (v + GELU_C * v**3))
    if s is not None and not math.isclose(s, SQRT_2_OVER_PI, rel_tol=1e-9):
        named = {math.sqrt(2 * math.pi): "sqrt(2 * pi)", 2 / math.pi: "2 / pi (no square root)",
                 math.sqrt(2) / math.pi: "sqrt(2) / pi", math.sqrt(math.pi / 2): "sqrt(pi / 2)"}
        name = next((n for value, n in named.items() if math.isclose(s, value, rel_tol=1e-9)), f"{s:.6g}")
        out.append(f"your tanh's factor is {name}; it must be sqrt(2 / pi) = {SQRT_2_OVER_PI:.6f}")
    return out


def check_gelu(s: Solution, lab: Lab) -> None:
    gpt = lab.model(TINY)
    block = gpt.params.h[0]
    x = model.linear(model.layer_norm(stream(gpt, IDS), block.ln_2, gpt.config.layer_norm_epsilon), block.mlp.c_fc)
    c = SQRT_2_OVER_PI

    def sigmoid(v: float) -> float:
        return 1.0 / (1.0 + math.exp(-v))

    want = model.gelu(x)
    got = s.call("gelu", x)
    try:
        check_close("gelu(block 0's MLP activations)", got, want, lambda: {
            "this is the exact GELU, x * Phi(x) with erf: GPT-2 uses the tanh approximation":
                x.map(lambda v: 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0)))),
            "the 0.044715 * x**3 term is missing": x.map(lambda v: 0.5 * v * (1.0 + math.tanh(c * v))),
            "x**2 where the formula has x**3: 0.044715 * x**3": x.map(lambda v: 0.5 * v * (1.0 + math.tanh(c * (v + GELU_C * v**2)))),
            "the factor 0.5 is missing": x.map(lambda v: v * (1.0 + math.tanh(c * (v + GELU_C * v**3)))),
            "the `1 +` is missing: 0.5 * x * (1 + tanh(...))": x.map(lambda v: 0.5 * v * math.tanh(c * (v + GELU_C * v**3))),
            "the leading x is missing: gelu(x) = 0.5 * x * (1 + tanh(...))":
                x.map(lambda v: 0.5 * (1.0 + math.tanh(c * (v + GELU_C * v**3)))),
            "this is ReLU, max(0, x): GELU is smooth, and slightly negative for small negative x": x.map(lambda v: max(0.0, v)),
            "this is x * sigmoid(1.702 x), another approximation: GPT-2 uses the tanh one":
                mapped(x, lambda v: v * sigmoid(1.702 * v)),
            "this is SiLU, x * sigmoid(x): GPT-2's GELU is the tanh formula": mapped(x, lambda v: v * sigmoid(v)),
            "this is tanh(x) alone: GELU is 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x**3)))": x.map(math.tanh),
        })
    except Failed as failure:
        slips = constant_slips(as_rows(got, "gelu"), x.tolist()) if isinstance(got, Tensor) and got.shape == x.shape else []
        if slips and not any(line.startswith("  hint: ") for line in failure.lines):
            kept = [line for line in failure.lines if not line.startswith("  a near miss") and not line.startswith("  (none")]
            raise Failed(kept + [f"  hint: {slip}" for slip in slips]) from None
        raise


# --- Exercise 4: layer norm -----------------------------------------------------------------------
def normalise(rows: Rows, gain: list[float], bias: list[float], eps: float, *,
              divisor: Callable[[int], int] = lambda n: n, eps_outside: bool = False, root: bool = True,
              centre_output: bool = True, centre_variance: bool = True, bias_first: bool = False) -> Rows | None:
    """Row-wise layer norm with the classic mistakes as options (None where the mistake divides by 0)."""
    out = []
    try:
        for row in rows:
            mean = sum(row) / len(row)
            var = sum((v - mean if centre_variance else v) ** 2 for v in row) / divisor(len(row))
            if eps_outside:
                scale = 1.0 / (math.sqrt(var) + eps)
            else:
                scale = 1.0 / (math.sqrt(var + eps) if root else var + eps)
            if bias_first:
                out.append([((v - mean) * scale + b) * g for v, g, b in zip(row, gain, bias)])
            else:
                out.append([((v - mean) if centre_output else v) * scale * g + b for v, g, b in zip(row, gain, bias)])
    except ZeroDivisionError:
        return None
    return out


def check_layer_norm(s: Solution, lab: Lab) -> None:
    gpt = lab.model(TINY)
    ln, eps = gpt.params.h[0].ln_1, gpt.config.layer_norm_epsilon
    x = stream(gpt, IDS)
    constant = from_rows([[0.25] * x.n_cols, *x.rows[:2]], Seq(3), x.n_cols)
    check_cases([layer_norm_case(s, "layer_norm(7 token vectors)", x, ln, eps),
                 layer_norm_case(s, "layer_norm(1 token vector)", take_rows(x, [2], ONE), ln, eps),
                 layer_norm_case(s, "layer_norm(7 token vectors, eps=0.01)", x, ln, 0.01),
                 layer_norm_case(s, "layer_norm(3 token vectors, the first all equal: variance 0)", constant, ln, eps)])


def layer_norm_case(s: Solution, what: str, x: Tensor[R, Embed], ln: model.LayerNorm, eps: float) -> Case:
    return Case(what, model.layer_norm(x, ln, eps), lambda: s.call("layer_norm", x, ln, eps),
                lambda: layer_norm_variants(x, ln, eps),
                {(1, x.n_cols): "one row: normalise every row of x, one output row each",
                 (x.n_rows, 1): "one number per row: each row's n outputs are (x_j - mean) / sqrt(var + eps) * gain_j + bias_j"})


def layer_norm_variants(x: Tensor[R, Embed], ln: model.LayerNorm, eps: float) -> dict[str, Rows | None]:
    gain, bias = ln.weight.row(0), ln.bias.row(0)
    rows = x.tolist()
    wrong = {
        "no epsilon: divide by sqrt(variance + eps)": normalise(rows, gain, bias, 0.0),
        "epsilon outside the square root: sqrt(variance + eps), not sqrt(variance) + eps":
            normalise(rows, gain, bias, eps, eps_outside=True),
        "the variance was divided by n - 1: layer norm divides by n": normalise(rows, gain, bias, eps, divisor=lambda n: n - 1),
        "the gain (ln.weight) and bias (ln.bias) are missing": normalise(rows, [1.0] * len(gain), [0.0] * len(bias), eps),
        "gain and bias swapped: times ln.weight, plus ln.bias": normalise(rows, bias, gain, eps),
        "divided by the variance: divide by its square root, sqrt(variance + eps)": normalise(rows, gain, bias, eps, root=False),
        "the mean was not subtracted from x_j: y_j = (x_j - mean) / sqrt(var + eps) * gain_j + bias_j":
            normalise(rows, gain, bias, eps, centre_output=False),
        "the variance is of x, not of x - mean: var = sum((x_j - mean)**2) / n":
            normalise(rows, gain, bias, eps, centre_variance=False),
        "the bias was added before the gain: times gain_j first, then plus bias_j": normalise(rows, gain, bias, eps, bias_first=True),
    }
    if eps != 1e-5:
        wrong["eps is a parameter: use the `eps` you are given (1e-5 is only GPT-2's)"] = normalise(rows, gain, bias, 1e-5)
    if len(rows) > 1:
        by_column = normalise(transpose(rows, len(gain)), [1.0] * len(rows), [0.0] * len(rows), eps)
        if by_column is not None:
            wrong["each column was normalised over the tokens: normalise each row over its channels"] = \
                transpose(by_column, len(rows))
    return wrong


# --- Exercise 5: linear layer and MLP -----------------------------------------------------------
def check_linear(s: Solution, lab: Lab) -> None:
    gpt = lab.model(TINY)
    mlp = gpt.params.h[0].mlp
    c_attn = gpt.params.h[0].attn.c_attn
    x = normed(gpt, IDS)
    want_linear = model.linear(x, c_attn)
    check_close("linear(x, c_attn)", s.call("linear", x, c_attn), want_linear, lambda: {
        "the bias is missing: x @ W + b": x @ c_attn.weight,
        "the bias was added twice: x @ W + b": want_linear + c_attn.bias,
        "the bias was subtracted: x @ W + b": x @ c_attn.weight + c_attn.bias * -1.0,
    })
    want = model.ffn(x, mlp)
    inside = model.linear(x, mlp.c_fc)
    relu = inside.map(lambda v: max(0.0, v))
    check_close("ffn(x, mlp)", s.call("ffn", x, mlp), want, lambda: {
        "the GELU is missing between the two layers": model.linear(inside, mlp.c_proj),
        "ReLU in place of GELU: the MLP's nonlinearity is model.gelu": model.linear(relu, mlp.c_proj),
        "GELU after the second layer: it goes between the two, linear(gelu(linear(x, c_fc)), c_proj)":
            model.gelu(model.linear(inside, mlp.c_proj)),  # type: ignore[arg-type]  # (the mistake mixes up brands)
        "x was added to the MLP's output: the residual belongs to the block (exercise 8), ffn returns the MLP alone":
            x + want,
    })


# --- Exercise 6: attention -----------------------------------------------------------------------
def softmax_variant(scores: Rows, visible: Callable[[int], int], scale: float, *, masked_as_zero: bool = False,
                    whole_row_sum: bool = False, scale_after: bool = False, zero_after: bool = False) -> Rows:
    """Softmax of each scaled row over its first visible(i) columns (at most all),
    with the classic mistakes as options."""
    out = []
    for i, row in enumerate(scores):
        n = min(len(row), visible(i))
        if n <= 0:  # (nothing visible: a row of zeros, as a loop over no columns leaves it)
            out.append([0.0] * len(row))
            continue
        scaled_row = [v * (1.0 if scale_after else scale) for v in row]
        if masked_as_zero:
            seen = scaled_row[:n] + [0.0] * (len(row) - n)
        else:
            seen = scaled_row[:n]
        top = max(seen)
        exps = [math.exp(v - top) for v in seen]
        total = sum(math.exp(v - top) for v in scaled_row) if whole_row_sum else sum(exps)
        probs = [e / total * (scale if scale_after else 1.0) for e in exps]
        if zero_after:
            probs = probs[:n]
        out.append(probs + [0.0] * (len(row) - len(probs)))
    return out


def column_softmax(scores: Rows, past: int, scale: float) -> Rows:
    """Softmax down each column over the rows allowed to see it: the wrong axis."""
    columns = transpose(scores, len(scores[0]))
    out = []
    for j, column in enumerate(columns):
        seen = [v * scale for i, v in enumerate(column) if j <= past + i]
        exps = [math.exp(v - max(seen)) for v in seen] if seen else []
        probs = iter([e / sum(exps) for e in exps])
        out.append([next(probs) if j <= past + i else 0.0 for i in range(len(column))])
    return transpose(out, len(scores))


def attention_variants(q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx]) -> dict[str, Rows]:
    """What each classic attention mistake gives for these queries and keys."""
    scores = (q @ k_t).tolist()
    past, d, n_keys = k_t.n_out - q.n_rows, q.n_cols, k_t.n_out
    scale = 1.0 / math.sqrt(d)

    def causal(i: int) -> int:
        return past + i + 1

    return {
        "no 1/sqrt(head_dim) scale: multiply the scores by 1/sqrt(q.n_cols) before the softmax":
            softmax_variant(scores, causal, 1.0),
        "scaled by 1/head_dim: the scale is 1/sqrt(head_dim)": softmax_variant(scores, causal, 1.0 / d),
        "multiplied by sqrt(head_dim): divide by it, scores * (1 / sqrt(head_dim))": softmax_variant(scores, causal, math.sqrt(d)),
        "scaled by 1/sqrt(the number of keys): head_dim is the width of a query, q.n_cols":
            softmax_variant(scores, causal, 1.0 / math.sqrt(n_keys)),
        "the scale was applied after the softmax: it goes on the scores, before": softmax_variant(scores, causal, scale, scale_after=True),
        "no causal mask: query i may only see columns 0 .. past + i": softmax_variant(scores, lambda i: len(scores[0]), scale),
        "mask off by one: query i also saw position past + i + 1, its future; it sees columns 0 .. past + i":
            softmax_variant(scores, lambda i: past + i + 2, scale),
        "mask off by one: query i did not see itself; it sees columns 0 .. past + i, its own position included":
            softmax_variant(scores, lambda i: past + i, scale),
        "the mask ignores the cache: row i is position past + i, with past = k_t.n_out - q.n_rows":
            softmax_variant(scores, lambda i: i + 1, scale),
        "past has the wrong sign: past = k_t.n_out - q.n_rows (the cached positions), never negative; a negative "
        "end in row[:end] counts back from the end of the row":
            softmax_variant(scores, lambda i: len(scores[0][: -past + i + 1]), scale),
        "masked scores were set to 0, and exp(0) still counts: leave the future columns out of the softmax "
        "(or make them -inf), then give them weight 0": softmax_variant(scores, causal, scale, masked_as_zero=True),
        "masked scores were set to 0 before the softmax, so exp(0) still counts in each row's total: leave the "
        "future columns out of the softmax (or make them -inf)":
            softmax_variant(scores, causal, scale, masked_as_zero=True, zero_after=True),
        "normalised by the whole row's sum: divide by the sum over the visible columns only":
            softmax_variant(scores, causal, scale, whole_row_sum=True),
        "softmax over the wrong axis: normalise each ROW (one query's scores), not each column":
            column_softmax(scores, past, scale),
    }


def check_attention(s: Solution, lab: Lab) -> None:
    gpt = lab.model(TINY)
    q_all, k_t, v = head_inputs(gpt, head=1)
    # A chunk of 3 new tokens after 4 cached ones first: it tells the most mistakes apart.
    weights, outputs = [], []
    for n, what in ((3, "3 new tokens after 4 cached"), (7, "a 7-token prompt"), (1, "1 new token after 6 cached")):
        q = last_rows(q_all, n)
        shapes = {(n, k_t.n_out - 1): "one column short: a row has a weight for every cached position, k_t.n_out of them",
                  (n, n): "one column per new token: a row has a weight for every position in k_t (k_t.n_out), cached ones too"}

        def variants(q: Tensor[Seq, HeadDim] = q) -> dict[str, Rows]:
            return attention_variants(q, k_t)

        def times_v(q: Tensor[Seq, HeadDim] = q) -> dict[str, object]:
            return {hint: from_rows(rows, q.n_rows, k_t.n_out) @ v for hint, rows in attention_variants(q, k_t).items()}

        weights.append(Case(f"attention_weights(q, k_t), {what}", model.attention_weights(q, k_t),
                            partial(s.call, "attention_weights", q, k_t), variants, shapes))
        outputs.append(Case(f"attention(q, k_t, v), {what}", model.attention(q, k_t, v),
                            partial(s.call, "attention", q, k_t, v), times_v,
                            {(n, k_t.n_out): "these are the weights: attention returns them times the values, weights @ v"}))
    check_cases(weights)
    check_cases(outputs)


# --- Exercise 7: multi-head attention -----------------------------------------------------------
def reorder_qkv(layer: Linear[Embed, Qkv], order: tuple[int, int, int]) -> Linear[Embed, Qkv]:
    """c_attn with its q, k, v blocks of columns in another order (to compute a swap mistake)."""
    width = layer.weight.n_out // 3
    columns, bias = layer.weight.columns, layer.bias.row(0)
    new_columns = [c for part in order for c in columns[part * width:(part + 1) * width]]
    new_bias = [b for part in order for b in bias[part * width:(part + 1) * width]]
    return Linear(weight_from_rows(transpose(new_columns, layer.weight.n_in), layer.weight.n_in, layer.weight.n_out),
                  bias=from_rows([new_bias], ONE, layer.bias.n_cols))


def identity(n: Embed) -> Linear[Embed, Embed]:
    """A layer that changes nothing: c_proj left out."""
    return Linear(weight_from_rows([[float(i == j) for j in range(n)] for i in range(n)], n, n),
                  bias=from_rows([[0.0] * n], ONE, n))


def single_head_cache(n_embd: int) -> LayerCache:
    return LayerCache(keys=[empty_weight(HeadDim(n_embd), Ctx(0))], values=[empty_weight(Ctx(0), HeadDim(n_embd))])


def heads_reversed(x: Tensor[Seq, Embed], attn: Attention, n_head: int) -> Tensor[Seq, Embed]:
    """mha with the heads' outputs put back in reverse order (over an empty cache)."""
    head_dim = HeadDim(x.n_cols // n_head)
    q, k, v = model.linear(x, attn.c_attn).split_columns(3, x.n_cols)
    heads = []
    for q_h, k_h, v_h in zip(*(t.split_columns(n_head, head_dim) for t in (q, k, v))):
        k_t, values = empty_weight(head_dim, Ctx(0)), empty_weight(Ctx(0), head_dim)
        for key, value in zip(k_h.rows, v_h.rows):
            k_t.append_column(key)
            values.append_row(value)
        heads.append(model.attention(q_h, k_t, values))
    return model.linear(concat_columns(heads[::-1], x.n_cols), attn.c_proj)


def mha_variants(x: Tensor[Seq, Embed], attn: Attention, config: GPT2Config) -> dict[str, object]:
    """What attention over an empty cache computes with each classic mistake."""
    n_head = config.n_head

    def swapped(order: tuple[int, int, int]) -> Tensor[Seq, Embed]:
        return model.mha(x, Attention(reorder_qkv(attn.c_attn, order), attn.c_proj), fresh_cache(config), n_head)

    return {
        "no c_proj: the concatenated heads go through linear(..., attn.c_proj)":
            model.mha(x, Attention(attn.c_attn, identity(x.n_cols)), fresh_cache(config), n_head),
        "one head over all the channels: cut q, k, v into n_head slices of head_dim columns":
            model.mha(x, attn, single_head_cache(x.n_cols), 1),
        "q and k swapped: c_attn's columns are q, then k, then v": swapped((1, 0, 2)),
        "k and v swapped: c_attn's columns are q, then k, then v": swapped((0, 2, 1)),
        "q and v swapped: c_attn's columns are q, then k, then v": swapped((2, 1, 0)),
        "the heads were put back in reverse order: concat_columns(heads, ...) in head order 0, 1, ...":
            heads_reversed(x, attn, n_head),
    }


def cache_lengths(cache: LayerCache) -> tuple[list[int], list[int]]:
    return [int(k.n_out) for k in cache.keys], [int(v.n_in) for v in cache.values]


def check_cache(cache: object, ours: LayerCache, length: int, after: str,
                queries: Sequence[Tensor[Seq, HeadDim]] | None = None, contents: bool = True) -> None:
    """What mha (or a block) must leave in its cache: every head `length` positions, and (with
    `contents`) the same keys and values potatogpt cached; `queries`, each head's, to name a swap."""
    if not isinstance(cache, LayerCache) or len(cache.keys) != len(ours.keys) or len(cache.values) != len(ours.values):
        raise Failed([f"after {after}, the cache is not a LayerCache with one K^T and one V per head",
                      "  hint: append to the Weights already in cache.keys[h] and cache.values[h]; don't replace the lists"])
    keys, values = cache_lengths(cache)
    n = len(keys)
    head = f"after {after}, each head's cache should hold {length} keys and values; yours holds keys {keys}, values {values}"
    if keys == [length] * n and values == [length] * n:
        for h in range(n if contents else 0):
            # Position by position: the keys are K^T's columns, the values V's rows.
            my_keys, my_values = cache.keys[h].columns, transpose(cache.values[h].columns, cache.values[h].n_in)
            our_keys, our_values = ours.keys[h].columns, transpose(ours.values[h].columns, ours.values[h].n_in)
            if all_close(my_keys, our_keys) and all_close(my_values, our_values):
                continue
            our_queries = queries[h].tolist()[-length:] if queries else []
            if all_close(my_keys, our_values) and all_close(my_values, our_keys):
                why = "k and v swapped: c_attn's output is q, then k, then v; the keys come from k"
            elif all_close(my_keys, our_queries):
                why = "q and k swapped: c_attn's output is q, then k, then v; the keys come from k, the queries from q"
            elif all_close(my_values, our_queries):
                why = "q and v swapped: c_attn's output is q, then k, then v"
            else:
                why = ("cache.keys[h] gets head h's slice of k (the middle third of c_attn's output), "
                       "cache.values[h] head h's slice of v (the last third)")
            raise Failed([f"after {after}, head {h}'s cache holds the right number of positions, but not the "
                          "right keys and values", f"  hint: {why}"])
        return
    if keys == [0] * n and values == [0] * n:
        why = ("append each new token's key as a column of cache.keys[h] and its value as a row of cache.values[h], "
               "before attending")
    elif keys == [2 * length] * n or values == [2 * length] * n:
        why = "each token was appended twice: once per new token, per head"
    elif keys == [length] * n:
        why = "the keys are there, the values not: cache.values[h].append_row(value) for each new token too"
    elif values == [length] * n:
        why = "the values are there, the keys not: cache.keys[h].append_column(key) for each new token too"
    elif keys[0] == length * n or values[0] == length * n:
        why = "every head's keys went into head 0's cache: head h has its own, cache.keys[h] and cache.values[h]"
    elif keys[0] == length and keys[1:] == [0] * (n - 1):
        why = "only head 0's cache was filled: each head h appends to its own cache.keys[h] and cache.values[h]"
    elif keys == [length - 1] * n or keys == [1 + (length - 1) // 2] * n:
        why = "not every new token's key was cached: append one key and one value per new token (per row of k_h, v_h)"
    else:
        why = "append each new token's key to cache.keys[h] and its value to cache.values[h], once"
    raise Failed([head, f"  hint: {why}"])


def check_multi_head(s: Solution, lab: Lab) -> None:
    gpt = lab.model(TINY)
    attn, config = gpt.params.h[0].attn, gpt.config
    yours, ours = fresh_cache(config), fresh_cache(config)
    # The prompt, into an empty cache (where the classic mistakes show) ...
    prompt = normed(gpt, IDS[:5])
    want = model.mha(prompt, attn, ours, config.n_head)
    got = s.call("mha", prompt, attn, yours, config.n_head, changes=[2])
    queries = model.linear(prompt, attn.c_attn).split_columns(3, prompt.n_cols)[0].split_columns(
        config.n_head, HeadDim(config.head_dim))
    check_cache(yours, ours, 5, "mha on a 5-token prompt", queries)
    check_close("mha(a 5-token prompt, empty cache)", got, want, lambda: mha_variants(prompt, attn, config))
    # ... then one more token, which must see the prompt's cached keys and values.
    new = normed(gpt, IDS[5:6], start=5)
    want = model.mha(new, attn, ours, config.n_head)
    got = s.call("mha", new, attn, yours, config.n_head, changes=[2])
    check_cache(yours, ours, 6, "mha on 1 more token")
    check_close("mha(1 new token after 5 cached)", got, want, lambda: {
        "the new token attended only to itself: attend over cache.keys[h] and cache.values[h], which hold every "
        "position so far": model.mha(new, attn, fresh_cache(config), config.n_head),
    })


# --- Exercise 8: the transformer block ------------------------------------------------------------
def check_block(s: Solution, lab: Lab) -> None:
    gpt = lab.model(TINY)
    block, config = gpt.params.h[1], gpt.config
    x = stream(gpt, IDS)
    ours, yours = fresh_cache(config), fresh_cache(config)
    want = model.transformer_block(x, block, ours, config)
    got = s.call("transformer_block", x, block, yours, config, changes=[2])
    keys, _values = cache_lengths(yours)
    if keys == [0] * len(keys):
        raise Failed(["after the block, its cache is still empty",
                      "  hint: pass the block's own `cache` to model.mha(...), which fills it"])
    check_cache(yours, ours, len(IDS), "the block on 7 tokens", contents=False)  # (what it holds depends on what mha read)
    check_close("transformer_block(block 1)", got, want, lambda: block_variants(x, block, config))


def block_variants(x: Tensor[Seq, Embed], block: model.Block, config: GPT2Config) -> dict[str, object]:
    """What a block computes with each classic mistake."""
    eps, n_head = config.layer_norm_epsilon, config.n_head

    def attn(h: Tensor[Seq, Embed], ln: model.LayerNorm, heads: int = n_head) -> Tensor[Seq, Embed]:
        cache = fresh_cache(config) if heads == n_head else single_head_cache(h.n_cols)
        return model.mha(model.layer_norm(h, ln, eps), block.attn, cache, heads)

    def mlp(h: Tensor[Seq, Embed], ln: model.LayerNorm) -> Tensor[Seq, Embed]:
        return model.ffn(model.layer_norm(h, ln, eps), block.mlp)

    a = attn(x, block.ln_1)
    normed_1 = model.layer_norm(x, block.ln_1, eps)
    after_1 = normed_1 + model.mha(normed_1, block.attn, fresh_cache(config), n_head)
    normed_2 = model.layer_norm(after_1, block.ln_2, eps)
    post_1 = model.layer_norm(x + model.mha(x, block.attn, fresh_cache(config), n_head), block.ln_1, eps)
    one_head = x + attn(x, block.ln_1, 1)
    return {
        "no residual connections: x = x + mha(...), then x = x + ffn(...)": mlp(a, block.ln_2),
        "no residual around attention: x = x + mha(layer_norm(x, ln_1))": a + mlp(a, block.ln_2),
        "no residual around the MLP: x = x + ffn(layer_norm(x, ln_2))": mlp(x + a, block.ln_2),
        "ln_1 used twice: the MLP reads layer_norm(x, block.ln_2)": x + a + mlp(x + a, block.ln_1),
        "ln_2 used twice: attention reads layer_norm(x, block.ln_1)": x + attn(x, block.ln_2) + mlp(x + attn(x, block.ln_2), block.ln_2),
        "the two layer norms swapped: ln_1 before attention, ln_2 before the MLP":
            x + attn(x, block.ln_2) + mlp(x + attn(x, block.ln_2), block.ln_1),
        "parallel branches: the MLP must read the stream after attention was added (x = x + mha(...) first, "
        "then x + ffn(layer_norm(x, ln_2)))": x + a + mlp(x, block.ln_2),
        "the stream itself was normalised: add onto x, and normalise only the copy each layer reads":
            normed_2 + model.ffn(normed_2, block.mlp),
        "attention's output was added to the normalised copy: x = x + mha(layer_norm(x, ln_1)), onto x itself":
            after_1 + mlp(after_1, block.ln_2),
        "post-norm (layer norm after the addition): GPT-2 normalises before, x + mha(layer_norm(x))":
            model.layer_norm(post_1 + model.ffn(post_1, block.mlp), block.ln_2, eps),
        "one head: pass config.n_head to model.mha": one_head + mlp(one_head, block.ln_2),
    }


# --- Exercise 9: the tied output layer -------------------------------------------------------------
def check_output_layer(s: Solution, lab: Lab) -> None:
    gpt = lab.model(VOCAB)
    params, config = gpt.params, gpt.config
    x = model.hidden_states(lab.tokenizer.encode(TEXT), params, new_kv_cache(config), config)
    eps = config.layer_norm_epsilon

    def with_norm(ln: model.LayerNorm, epsilon: float = eps) -> Tensor[Seq, Vocab]:
        return x.layer_norm(ln.weight, ln.bias, epsilon) @ params.wte.T

    last = len(params.h) - 1
    want = model.lm_head(x, params, config)
    check_close("lm_head(the last block's output)", s.call("lm_head", x, params, config), want, lambda: {
        "the final layer norm is missing: layer_norm(x, params.ln_f) first": x @ params.wte.T,
        "layer norm without epsilon: pass config.layer_norm_epsilon": with_norm(params.ln_f, 0.0),
        f"the last block's ln_2 (params.h[{last}].ln_2): the output layer's layer norm is params.ln_f": with_norm(params.h[-1].ln_2),
        f"the last block's ln_1 (params.h[{last}].ln_1): the output layer's layer norm is params.ln_f": with_norm(params.h[-1].ln_1),
        "the first block's ln_1 (params.h[0].ln_1): the output layer's layer norm is params.ln_f": with_norm(params.h[0].ln_1),
    }, shapes={(x.n_rows, config.n_ctx): "a score per position: that is wpe.T; the output layer is wte.T, a score per token",
               (1, config.vocab_size): "one row: lm_head scores every row it is given (exercise 10 picks the last)"})


# --- Exercise 10: a KV-cached step ----------------------------------------------------------------
def step_at(ids: Sequence[int], gpt: GPT2, kv_cache: KVCache, start: int, row: int, *, blocks: int | None = None,
            final_norm: bool = True) -> Tensor[One, Vocab] | None:
    """A decode step with the position, the scored row and the blocks run given (the classic mistakes)."""
    if start < 0 or start + len(ids) > gpt.config.n_ctx:
        return None
    x = model.embed(ids, gpt.params, start)
    for block, cache in list(zip(gpt.params.h, kv_cache.layers))[:blocks]:
        x = model.transformer_block(x, block, cache, gpt.config)
    chosen = take_rows(x, [row], ONE)
    return model.lm_head(chosen, gpt.params, gpt.config) if final_norm else chosen @ gpt.params.wte.T


def check_kv_cache(kv_cache: object, n_layer: int, length: int, after: str) -> None:
    """Each block's cache must hold `length` positions after a step: checked before the values."""
    if not isinstance(kv_cache, KVCache):
        raise Failed([f"after {after}, the cache is not the KVCache it was"])
    lengths = [int(layer.keys[0].n_out) if layer.keys else 0 for layer in kv_cache.layers]
    if lengths == [length] * n_layer:
        return
    head = f"after {after}, every block's cache should hold {length} positions; yours hold {lengths} (block 0, 1, ...)"
    if lengths[0] == n_layer * length and all(n == lengths[-1] for n in lengths[1:]):
        why = ("every block was given the same cache: block i needs its own, kv_cache.layers[i] "
               "(for block, cache in zip(params.h, kv_cache.layers))")
    elif lengths[-1] < length and all(n == length for n in lengths[:-1]):
        why = "the last block was skipped: run every block of params.h, zip(params.h, kv_cache.layers)"
    elif all(n == 0 for n in lengths):
        why = "pass each block its own cache, kv_cache.layers[i], to transformer_block"
    else:
        why = "pass each block its own cache, kv_cache.layers[i], to transformer_block, once per step"
    raise Failed([head, f"  hint: {why}"])


def check_decode_step(s: Solution, lab: Lab) -> None:
    gpt = lab.model(VOCAB)
    params, config = gpt.params, gpt.config
    prompt, continuation = lab.greedy_continuation(VOCAB)
    n_layer = config.n_layer
    shapes = {(len(prompt), config.vocab_size): "a row of logits per position: only the last position predicts the "
                                                "next token, take_rows(x, [x.n_rows - 1], ONE)"}

    cache = new_kv_cache(config)
    want = model.gpt2(prompt, params, new_kv_cache(config), config)
    logits = s.call("gpt2", prompt, params, cache, config, changes=[2])
    check_kv_cache(cache, n_layer, len(prompt), f"a {len(prompt)}-token prompt")
    check_close(f"gpt2(a {len(prompt)}-token prompt, empty cache)", logits, want, lambda: {
        "the first position was scored: the next token is predicted by the LAST row": step_at(prompt, gpt, new_kv_cache(config), 0, 0),
        "the positions started at len(ids): the first new position is kv_cache.length":
            step_at(prompt, gpt, new_kv_cache(config), len(prompt), len(prompt) - 1),
        "the positions started at 1: the first new position is kv_cache.length (0 for a prompt)":
            step_at(prompt, gpt, new_kv_cache(config), 1, len(prompt) - 1),
        "the final layer norm is missing: score the last row with model.lm_head":
            step_at(prompt, gpt, new_kv_cache(config), 0, len(prompt) - 1, final_norm=False),
    }, shapes)

    token = continuation[0]
    after_prompt = new_kv_cache(config)
    model.gpt2(prompt, params, after_prompt, config)
    want = model.gpt2([*prompt, token], params, new_kv_cache(config), config)

    def cached(kv: KVCache = after_prompt) -> KVCache:
        copy = new_kv_cache(config)
        for mine, theirs in zip(copy.layers, kv.layers):
            for k_t, v, tk, tv in zip(mine.keys, mine.values, theirs.keys, theirs.values):
                for key, value in zip(tk.columns, transpose(tv.columns, tv.n_in)):
                    k_t.append_column(key)
                    v.append_row(value)
        return copy

    got = s.call("gpt2", [token], params, cache, config, changes=[2])
    check_kv_cache(cache, n_layer, len(prompt) + 1, "one more token")
    check_close("gpt2([the next token], the prompt's cache)", got, want, lambda: {
        "the new token was put at position 0: it is at position kv_cache.length": step_at([token], gpt, cached(), 0, 0),
        "the new token was put at position len(ids) = 1: it is at position kv_cache.length": step_at([token], gpt, cached(), 1, 0),
        f"the new token was put at position kv_cache.length + 1 = {len(prompt) + 1}: it is at kv_cache.length":
            step_at([token], gpt, cached(), len(prompt) + 1, 0),
        "the cache was not used: the new token must attend to the prompt's cached keys":
            model.gpt2([token], params, new_kv_cache(config), config),
    })

    # A prompt that fills the whole context: the last position, n_ctx - 1, must be reachable.
    full = (prompt * config.n_ctx)[:config.n_ctx]
    want = model.gpt2(full, params, new_kv_cache(config), config)
    cache = new_kv_cache(config)
    got = s.call("gpt2", full, params, cache, config, changes=[2])
    check_kv_cache(cache, n_layer, len(full), f"a {len(full)}-token prompt (the whole context)")
    check_close(f"gpt2(a {len(full)}-token prompt: the whole context)", got, want)

    # Greedy decoding with your steps must give what transformers gave (tests/fixtures/README.md).
    cache, step, new = new_kv_cache(config), prompt, []
    for _ in continuation:
        row = s.call("gpt2", step, params, cache, config, changes=[2])
        if not isinstance(row, Tensor) or row.shape != (1, config.vocab_size):
            raise Failed([f"gpt2 returned {row!r:.60} during greedy decoding, not one row of logits"])
        step = [sampling.argmax(row.row(0))]
        new.append(step[0])
    check_equal(f"greedy continuation of {lab.tokenizer.decode(prompt)!r} (transformers' tokens)", new, continuation)


# --- Exercise 11: sampling ------------------------------------------------------------------------
def top_p_variant(probs: Sequence[float], candidates: Sequence[int], p: float, *, renormalise: bool = True,
                  keep_crossing: bool = True, strictly_above: bool = False) -> list[int]:
    """Nucleus selection with the classic mistakes as options."""
    total = sum(probs[i] for i in candidates) if renormalise else 1.0
    kept: list[int] = []
    mass = 0.0
    for i in candidates:
        reached = mass + probs[i] / total
        if not keep_crossing and reached >= p:
            break
        kept.append(i)
        mass = reached
        if mass > p if strictly_above else mass >= p:
            break
    return kept or [candidates[0]]


def power_softmax(logits: Sequence[float], power: float, normalise: bool) -> list[float] | None:
    """softmax(logits) raised to a power, renormalised or not (temperature applied as a power)."""
    probs = sampling.softmax(logits, 1.0)
    try:
        raised = [p**power for p in probs]
    except OverflowError:
        return None
    total = sum(raised)
    return [r / total for r in raised] if normalise and total > 0 else raised


TIED = [0.1, 0.3, 0.05, 0.3, 0.2, 0.05]  # two ties: ids 1 and 3, ids 2 and 5


def check_sampling(s: Solution, lab: Lab) -> None:
    gpt = lab.model(VOCAB)
    logits = gpt.next_token_logits(lab.tokenizer.encode(TEXT))
    cases = []
    for temperature in (0.7, 1.6, 1.0):
        cases.append(Case(f"softmax(logits, temperature={temperature})", sampling.softmax(logits, temperature),
                          partial(s.call, "softmax", logits, temperature), partial(softmax_variants, logits, temperature)))
    check_cases(cases)
    try:
        huge = s.call("softmax", [1000.0, 999.0, 0.0], 1.0)
    except StudentCrashed as crash:
        if not isinstance(crash.error, OverflowError):
            raise
        raise Failed(["softmax([1000.0, 999.0, 0.0]): OverflowError",
                      "  hint: subtract the largest logit before exp(); it cancels out, and exp() never sees a huge number"]) from None
    check_close("softmax([1000.0, 999.0, 0.0])", huge, sampling.softmax([1000.0, 999.0, 0.0]))
    check_candidates(s, sampling.softmax(logits, 0.8))


def softmax_variants(logits: list[float], temperature: float) -> dict[str, object]:
    top = max(logits)
    return {
            "multiplied by the temperature (or the probabilities raised to the power T, which is the same): divide "
            "the logits by it": sampling.softmax(logits, 1.0 / temperature),
            "the temperature was ignored (or applied after exp(), where normalising cancels it): divide the logits "
            "by it before exp()": sampling.softmax(logits, 1.0),
            "the probabilities were raised to the power 1/T and not renormalised: divide the logits by T before exp()":
                power_softmax(logits, 1.0 / temperature, normalise=False),
            "not normalised: divide each exponential by their total": [math.exp((v - top) / temperature) for v in logits],
            "the logits themselves, divided by T: the softmax is exp((l - max) / T) / total": [v / temperature for v in logits],
    }


def check_candidates(s: Solution, probs: list[float]) -> None:
    top_k_cases = []
    for case, k, what in ((TIED, 4, f"{TIED}, k=4, with ties"), (TIED, 3, f"{TIED}, k=3, with ties"),
                          (probs, 1, "probs, k=1"), (probs, 5, "probs, k=5"), (probs, 40, "probs, k=40")):
        want_ids = sampling.top_k_candidates(case, k)
        top_k_cases.append(Case(f"top_k_candidates({what})", want_ids, partial(s.call, "top_k_candidates", case, k),
                                partial(top_k_variants, case, k, want_ids), exact=True))
    check_cases(top_k_cases)

    halves = [0.5, 0.25, 0.125, 0.125]  # the running total hits p = 0.75 exactly
    ranked = sampling.top_k_candidates(probs, len(probs))
    top_p_cases = [(halves, [0, 1, 2, 3], 0.75, "4 candidates, p=0.75 (reached exactly)"),
             (TIED, [1, 3, 4, 0, 2, 5], 0.7, "the tied list, p=0.7"),
             (probs, ranked, 0.5, "all candidates, p=0.5"), (probs, ranked, 0.9, "all candidates, p=0.9"),
             (probs, ranked[:10], 0.8, "the top 10 (after top-k), p=0.8"), (probs, ranked[:10], 1.0, "the top 10, p=1.0")]
    check_cases([top_p_case(s, case_probs, candidates, p, what) for case_probs, candidates, p, what in top_p_cases])


def top_p_case(s: Solution, case_probs: list[float], candidates: list[int], p: float, what: str) -> Case:
    want_ids = sampling.top_p_candidates(case_probs, candidates, p)
    return Case(f"top_p_candidates(probs, {what})", want_ids, lambda: s.call("top_p_candidates", case_probs, candidates, p),
                lambda: {
            "stopped too early: keep the candidate that brings the total to p": top_p_variant(
                case_probs, candidates, p, keep_crossing=False),
            "kept going at exactly p: stop as soon as the total is >= p": top_p_variant(
                case_probs, candidates, p, strictly_above=True),
            "not renormalised: divide by the candidates' total (top-k may have cut the rest)": top_p_variant(
                case_probs, candidates, p, renormalise=False),
            "positions in `candidates`, not token ids: keep the candidates themselves": list(range(len(want_ids))),
            "the candidates were sorted again: they come sorted most likely first; walk them in the order given":
                top_p_variant(case_probs, sorted(candidates), p),
            "the whole vocabulary was walked: walk only `candidates` (top-k may have cut the rest)": top_p_variant(
                case_probs, sampling.top_k_candidates(case_probs, len(case_probs)), p, renormalise=False),
    }, exact=True)


def top_k_variants(probs: Sequence[float], k: int, want: Sequence[int]) -> dict[str, list[int]]:
    ranked_values = sorted(probs, reverse=True)[:k]
    by_value = {p: i for i, p in enumerate(probs)}
    return {
        "least likely first: sort by probability, largest first": sorted(range(len(probs)), key=probs.__getitem__)[:k],
        "sorted by token id: the most likely must come first": sorted(want),
        "one candidate too many: keep exactly k": sampling.top_k_candidates(probs, k + 1),
        "one candidate too few: keep exactly k": sampling.top_k_candidates(probs, k - 1),
        "the same token twice: probs.index(p) finds the first token with that probability every time; sort the "
        "token ids by probability instead, sorted(range(len(probs)), key=..., reverse=True)":
            [list(probs).index(p) for p in ranked_values],
        "ties in the wrong order: among equal probabilities the smaller token id comes first (sorted(..., "
        "reverse=True) keeps that order; reversing an ascending sort flips it)":
            sorted(range(len(probs)), key=probs.__getitem__)[::-1][:k],
        "a dict keyed by probability keeps one token per value: tied tokens overwrite each other":
            [by_value[p] for p in sorted(by_value, reverse=True)[:k]],
    }


# --- The exercises, in reading order ---------------------------------------------------------------
MODEL = "potatogpt.model"
BACKWARD = "potatogpt.backward"
EXERCISES = [
    Exercise(1, "ex01_tokenizer", "byte-level BPE", ("bytes_to_unicode", "merge", "bpe"), "potatogpt.tokenizer", check_tokenizer),
    Exercise(2, "ex02_embedding", "embeddings", ("embed",), MODEL, check_embedding),
    Exercise(3, "ex03_gelu", "GELU", ("gelu",), MODEL, check_gelu),
    Exercise(4, "ex04_layer_norm", "layer norm", ("layer_norm",), MODEL, check_layer_norm),
    Exercise(5, "ex05_linear", "linear layer and MLP", ("linear", "ffn"), MODEL, check_linear),
    Exercise(6, "ex06_attention", "causal attention", ("attention_weights", "attention"), MODEL, check_attention),
    Exercise(7, "ex07_multi_head", "multi-head attention", ("mha",), MODEL, check_multi_head),
    Exercise(8, "ex08_block", "transformer block", ("transformer_block",), MODEL, check_block),
    Exercise(9, "ex09_output_layer", "tied output layer", ("lm_head",), MODEL, check_output_layer),
    Exercise(10, "ex10_decode_step", "KV-cached decode step", ("gpt2",), MODEL, check_decode_step),
    Exercise(11, "ex11_sampling", "temperature, top-k, top-p",
             ("softmax", "top_k_candidates", "top_p_candidates"), "potatogpt.sampling", check_sampling),
    # Part two, the backward pass, in the order a gradient flows back (the checks: checks_ex12.py ...)
    Exercise(12, "ex12_cross_entropy", "cross-entropy and its gradient", ("cross_entropy", "cross_entropy_backward"),
             BACKWARD, checks_ex12.check, part=2),
    Exercise(13, "ex13_output_backward", "tied output layer and embeddings, backward",
             ("lm_head_backward", "embed_backward"), BACKWARD, checks_ex13.check, part=2),
    Exercise(14, "ex14_linear_backward", "linear layer, backward", ("product_backward", "linear_backward"), BACKWARD,
             checks_ex14.check, part=2),
    Exercise(15, "ex15_mlp_backward", "GELU and the MLP, backward", ("gelu_backward", "ffn_backward"), BACKWARD,
             checks_ex15.check, part=2),
    Exercise(16, "ex16_layer_norm_backward", "layer norm, backward", ("layer_norm_backward",), BACKWARD,
             checks_ex16.check, part=2),
    Exercise(17, "ex17_attention_backward", "softmax and attention, backward",
             ("softmax_rows_backward", "attention_weights_backward", "attention_backward"), BACKWARD,
             checks_ex17.check, part=2),
    Exercise(18, "ex18_multi_head_backward", "multi-head attention, backward", ("mha_backward",), BACKWARD,
             checks_ex18.check, part=2),
    Exercise(19, "ex19_block_backward", "transformer block, backward", ("transformer_block_backward",), BACKWARD,
             checks_ex19.check, part=2),
    Exercise(20, "ex20_adamw", "an AdamW step", ("adamw_update",), "potatogpt.train", checks_ex20.check, part=2),
]
