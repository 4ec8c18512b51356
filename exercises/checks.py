"""What each exercise is checked against: potatogpt's own function on real inputs from the tiny
checkpoints, and the classic mistakes, each computed, so a hint is given only when your numbers
are exactly what that mistake produces.

Inputs come from the models themselves (block 0's queries, the MLP's real input, ...), so the
numbers are the ones a GPT-2 forward pass really sees.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

from potatogpt import model, sampling
from potatogpt import tokenizer as bpe_tokenizer
from potatogpt.api import GPT2
from potatogpt.config import GPT2Config
from potatogpt.model import Attention, LayerCache, Linear, new_kv_cache
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
    empty_weight,
    from_rows,
    take_rows,
    transpose,
    weight_from_rows,
)

from .grader import Exercise, Failed, Lab, Rows, Solution, check_close, check_equal, plugged_in

R = TypeVar("R", bound=int)
C = TypeVar("C", bound=int)

TINY = "tiny-prefixed"  # 3 blocks, 4 heads, 32 channels, 96 tokens: enough heads to split
VOCAB = "tiny-vocab"  # 2 blocks, 2 heads, 8 channels, and GPT-2's real 50,257-token vocabulary
IDS = [3, 17, 42, 8, 61, 29, 5]  # a prompt for TINY
TEXT = "Hello, my name is Alan Turing"  # a prompt for VOCAB


# --- Inputs, computed with potatogpt's own functions ---------------------------------------------
def stream(gpt: GPT2, ids: Sequence[int], start: int = 0) -> Tensor[Seq, Embed]:
    """The residual stream entering block 0."""
    return model.embed(ids, gpt.params, start)


def fresh_cache(config: GPT2Config) -> LayerCache:
    """An empty KV cache for one block."""
    return new_kv_cache(config).layers[0]


def normed(gpt: GPT2, ids: Sequence[int], start: int = 0) -> Tensor[Seq, Embed]:
    """What block 0's attention reads: ln_1 of the stream."""
    return model.layer_norm(stream(gpt, ids, start), gpt.params.h[0].ln_1, gpt.config.layer_norm_epsilon)


def head_inputs(gpt: GPT2, head: int) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx], Weight[Ctx, HeadDim]]:
    """Block 0's queries for IDS in one head, and that head's K^T and V for all of IDS."""
    x = normed(gpt, IDS)
    head_dim = HeadDim(gpt.config.head_dim)
    q, k, v = (t.split_columns(gpt.config.n_head, head_dim)[head]
               for t in model.linear(x, gpt.params.h[0].attn.c_attn).split_columns(3, x.n_cols))
    k_t, values = empty_weight(head_dim, Ctx(0)), empty_weight(Ctx(0), head_dim)
    for key, value in zip(k.rows, v.rows):
        k_t.append_column(key)
        values.append_row(value)
    return q, k_t, values


def last_rows(x: Tensor[Seq, C], n: int) -> Tensor[Seq, C]:
    """The newest n rows: the queries of the last n tokens, as if the rest were cached."""
    return take_rows(x, range(x.n_rows - n, x.n_rows), Seq(n))


# --- Exercise 1: bytes and BPE -----------------------------------------------------------------
MERGE_CASES: list[tuple[list[str], tuple[str, str]]] = [
    (["a", "a", "a"], ("a", "a")),
    (["a", "a", "a", "a"], ("a", "a")),
    (["a", "b", "a", "b", "c"], ("a", "b")),
    (["Ġ", "t", "h", "e"], ("t", "h")),
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


def bpe_variant(symbols: str, ranks: dict[tuple[str, str], int], pick: Callable[[list[tuple[str, str]]], tuple[str, str]],
                max_merges: int = 10**9) -> list[str]:
    """BPE that merges the pair `pick` chooses among the known ones, at most max_merges times."""
    parts = list(symbols)
    for _ in range(max_merges):
        known = [pair for pair in zip(parts, parts[1:]) if pair in ranks]
        if not known:
            break
        parts = bpe_tokenizer.merge(parts, pick(known))
    return parts


def check_tokenizer(s: Solution, lab: Lab) -> None:
    want_table = bpe_tokenizer.bytes_to_unicode()
    table = s.call("bytes_to_unicode")
    if table != want_table:
        got = table if isinstance(table, dict) else {}
        wrong = [b for b in range(256) if got.get(b) != want_table[b]]
        lines = [f"bytes_to_unicode(): {len(wrong)} of the 256 bytes have the wrong symbol",
                 f"  the first wrong one is byte {wrong[0]}: yours {got.get(wrong[0])!r}, expected {want_table[wrong[0]]!r}"]
        if got == {b: chr(b) for b in range(256)}:
            lines.append("  hint: every byte stands for itself; the 68 that are not printable Latin-1 (control "
                         "codes, space, DEL, 0xA0, 0xAD) must take chr(256), chr(257), ... in byte order")
        raise Failed(lines)

    for parts, pair in MERGE_CASES:
        check_equal(f"merge({parts}, {pair})", s.call("merge", list(parts), pair), bpe_tokenizer.merge(parts, pair), lambda: {
            "only the first occurrence was merged: keep going to the end of the list": merge_first_only(parts, pair),
            "merged from the right: scan left to right, and step past a pair once it is merged":
                merge_right_to_left(parts, pair),
        })

    ranks = lab.ranks
    words = sorted({word for text, _ids in lab.corpus for word in bpe_tokenizer.pre_tokenize(text)})
    for word in words:
        symbols = "".join(bpe_tokenizer.BYTE_TO_UNICODE[b] for b in word.encode("utf-8", "replace"))
        want = bpe_tokenizer.bpe(symbols, ranks)
        pieces = s.call("bpe", symbols, ranks)
        if pieces != want:
            check_equal(f"bpe({symbols!r}, ranks)", pieces, want, lambda: {
                "the latest-learned pair was merged first: pick the LOWEST rank":
                    bpe_variant(symbols, ranks, lambda known: max(known, key=ranks.__getitem__)),
                "the leftmost known pair was merged first: pick the one with the lowest rank":
                    bpe_variant(symbols, ranks, lambda known: known[0]),
                "only one merge happened: repeat until no adjacent pair is in ranks":
                    bpe_variant(symbols, ranks, lambda known: min(known, key=ranks.__getitem__), 1),
            })

    bpe_function = s.function("bpe")
    with plugged_in(bpe_tokenizer, {"bpe": bpe_function}):
        tokenizer = bpe_tokenizer.Tokenizer.gpt2()  # a fresh one: nothing cached from before
        for text, ids in lab.corpus:
            check_equal(f"encode({text[:30]!r}) with your bpe (tiktoken's ids)", tokenizer.encode(text), ids)


# --- Exercise 2: embeddings ----------------------------------------------------------------------
def check_embedding(s: Solution, lab: Lab) -> None:
    gpt = lab.model(VOCAB)
    ids = lab.tokenizer.encode(TEXT)
    seq = Seq(len(ids))
    for start in (0, 5):
        def wrong() -> dict[str, object]:
            return {
                "only the token vectors: add the position vectors (rows of wpe) too": gpt.params.wte.lookup(ids, seq),
                "only the position vectors: add the token vectors (rows of wte, picked by id) too":
                    gpt.params.wpe.lookup(range(start, start + seq), seq),
                **({"the positions started at 0: the first id is at position `start`": stream(gpt, ids, 0)} if start else {}),
            }
        check_close(f"embed({len(ids)} ids, params, start={start})", s.call("embed", ids, gpt.params, start),
                    stream(gpt, ids, start), wrong)


# --- Exercise 3: GELU ----------------------------------------------------------------------------
def check_gelu(s: Solution, lab: Lab) -> None:
    gpt = lab.model(TINY)
    block = gpt.params.h[0]
    x = model.linear(model.layer_norm(stream(gpt, IDS), block.ln_2, gpt.config.layer_norm_epsilon), block.mlp.c_fc)
    c = math.sqrt(2.0 / math.pi)
    check_close("gelu(block 0's MLP activations)", s.call("gelu", x), model.gelu(x), lambda: {
        "this is the exact GELU, x * Phi(x) with erf: GPT-2 uses the tanh approximation":
            x.map(lambda v: 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0)))),
        "the 0.044715 * x**3 term is missing": x.map(lambda v: 0.5 * v * (1.0 + math.tanh(c * v))),
        "the factor 0.5 is missing": x.map(lambda v: v * (1.0 + math.tanh(c * (v + 0.044715 * v**3)))),
        "this is ReLU, max(0, x): GELU is smooth, and slightly negative for small negative x": x.map(lambda v: max(0.0, v)),
    })


# --- Exercise 4: layer norm -----------------------------------------------------------------------
def normalise(rows: Rows, gain: list[float], bias: list[float], eps: float, *,
              divisor: Callable[[int], int] = lambda n: n, eps_outside: bool = False) -> Rows:
    """Row-wise layer norm with the classic mistakes as options (variance divisor, eps placement)."""
    out = []
    for row in rows:
        mean = sum(row) / len(row)
        var = sum((v - mean) ** 2 for v in row) / divisor(len(row))
        scale = 1.0 / (math.sqrt(var) + eps) if eps_outside else 1.0 / math.sqrt(var + eps)
        out.append([(v - mean) * scale * g + b for v, g, b in zip(row, gain, bias)])
    return out


def check_layer_norm(s: Solution, lab: Lab) -> None:
    gpt = lab.model(TINY)
    ln, eps = gpt.params.h[0].ln_1, gpt.config.layer_norm_epsilon
    x = stream(gpt, IDS)
    check_layer_norm_of(s, "layer_norm(7 token vectors)", x, ln, eps)
    check_layer_norm_of(s, "layer_norm(1 token vector)", take_rows(x, [2], ONE), ln, eps)


def check_layer_norm_of(s: Solution, what: str, x: Tensor[R, Embed], ln: model.LayerNorm, eps: float) -> None:
    check_close(what, s.call("layer_norm", x, ln, eps), model.layer_norm(x, ln, eps), lambda: layer_norm_variants(x, ln, eps))


def layer_norm_variants(x: Tensor[R, Embed], ln: model.LayerNorm, eps: float) -> dict[str, Rows]:
    gain, bias = ln.weight.row(0), ln.bias.row(0)
    rows = x.tolist()
    wrong = {
        "no epsilon: divide by sqrt(variance + eps)": normalise(rows, gain, bias, 0.0),
        "epsilon outside the square root: sqrt(variance + eps), not sqrt(variance) + eps":
            normalise(rows, gain, bias, eps, eps_outside=True),
        "the variance was divided by n - 1: layer norm divides by n": normalise(rows, gain, bias, eps, divisor=lambda n: n - 1),
        "the gain (ln.weight) and bias (ln.bias) are missing": normalise(rows, [1.0] * len(gain), [0.0] * len(bias), eps),
        "gain and bias swapped: times ln.weight, plus ln.bias": normalise(rows, bias, gain, eps),
    }
    if len(rows) > 1:
        by_column = normalise(transpose(rows, len(gain)), [1.0] * len(rows), [0.0] * len(rows), eps)
        wrong["each column was normalised over the tokens: normalise each row over its channels"] = \
            transpose(by_column, len(rows))
    return wrong


# --- Exercise 5: linear layer and MLP -----------------------------------------------------------
def check_linear(s: Solution, lab: Lab) -> None:
    gpt = lab.model(TINY)
    mlp = gpt.params.h[0].mlp
    c_attn = gpt.params.h[0].attn.c_attn
    x = normed(gpt, IDS)
    check_close("linear(x, c_attn)", s.call("linear", x, c_attn), model.linear(x, c_attn), lambda: {
        "the bias is missing: x @ W + b": x @ c_attn.weight,
    })
    check_close("ffn(x, mlp)", s.call("ffn", x, mlp), model.ffn(x, mlp), lambda: {
        "the GELU is missing between the two layers": model.linear(model.linear(x, mlp.c_fc), mlp.c_proj),
    })


# --- Exercise 6: attention -----------------------------------------------------------------------
def masked_softmax(scores: Rows, past: int, scale: float, visible: Callable[[int], int]) -> Rows:
    """Softmax of each scaled row over its first visible(i) columns (at least 1, at most all)."""
    out = []
    for i, row in enumerate(scores):
        seen = [v * scale for v in row[: max(1, min(len(row), visible(i)))]]
        top = max(seen)
        exps = [math.exp(v - top) for v in seen]
        out.append([e / sum(exps) for e in exps] + [0.0] * (len(row) - len(seen)))
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
    past, d = k_t.n_out - q.n_rows, q.n_cols
    scale = 1.0 / math.sqrt(d)
    return {
        "no 1/sqrt(head_dim) scale: multiply the scores by 1/sqrt(q.n_cols) before the softmax":
            masked_softmax(scores, past, 1.0, lambda i: past + i + 1),
        "scaled by 1/head_dim: the scale is 1/sqrt(head_dim)": masked_softmax(scores, past, 1.0 / d, lambda i: past + i + 1),
        "no causal mask: query i may only see columns 0 .. past + i": masked_softmax(scores, past, scale, lambda i: len(scores[0])),
        "mask off by one: query i also saw position past + i + 1, its future; it sees columns 0 .. past + i":
            masked_softmax(scores, past, scale, lambda i: past + i + 2),
        "mask off by one: query i did not see itself; it sees columns 0 .. past + i, its own position included":
            masked_softmax(scores, past, scale, lambda i: past + i),
        "the mask ignores the cache: row i is position past + i, with past = k_t.n_out - q.n_rows":
            masked_softmax(scores, past, scale, lambda i: i + 1),
        "softmax over the wrong axis: normalise each ROW (one query's scores), not each column":
            column_softmax(scores, past, scale),
    }


def check_attention(s: Solution, lab: Lab) -> None:
    gpt = lab.model(TINY)
    q_all, k_t, v = head_inputs(gpt, head=1)
    # A chunk of 3 new tokens after 4 cached ones first: it tells the most mistakes apart.
    for n, what in ((3, "3 new tokens after 4 cached"), (7, "a 7-token prompt"), (1, "1 new token after 6 cached")):
        q = last_rows(q_all, n)
        check_close(f"attention_weights(q, k_t), {what}", s.call("attention_weights", q, k_t),
                    model.attention_weights(q, k_t), lambda: attention_variants(q, k_t))
        check_close(f"attention(q, k_t, v), {what}", s.call("attention", q, k_t, v), model.attention(q, k_t, v),
                    lambda: {hint: from_rows(rows, q.n_rows, k_t.n_out) @ v for hint, rows in attention_variants(q, k_t).items()})


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


def mha_variants(x: Tensor[Seq, Embed], attn: Attention, config: GPT2Config) -> dict[str, object]:
    """What attention over an empty cache computes with each classic mistake."""
    n_head = config.n_head
    return {
        "no c_proj: the concatenated heads go through linear(..., attn.c_proj)":
            model.mha(x, Attention(attn.c_attn, identity(x.n_cols)), fresh_cache(config), n_head),
        "one head over all the channels: cut q, k, v into n_head slices of head_dim columns":
            model.mha(x, attn, single_head_cache(x.n_cols), 1),
        "q and k swapped: c_attn's columns are q, then k, then v":
            model.mha(x, Attention(reorder_qkv(attn.c_attn, (1, 0, 2)), attn.c_proj), fresh_cache(config), n_head),
    }


def check_multi_head(s: Solution, lab: Lab) -> None:
    gpt = lab.model(TINY)
    attn, config = gpt.params.h[0].attn, gpt.config
    yours, ours = fresh_cache(config), fresh_cache(config)
    # The prompt, into an empty cache (where the classic mistakes show) ...
    prompt = normed(gpt, IDS[:5])
    check_close("mha(a 5-token prompt, empty cache)", s.call("mha", prompt, attn, yours, config.n_head),
                model.mha(prompt, attn, ours, config.n_head), lambda: mha_variants(prompt, attn, config))
    check_cache_length(yours, 5)
    # ... then one more token, which must see the prompt's cached keys and values.
    new = normed(gpt, IDS[5:6], start=5)
    check_close("mha(1 new token after 5 cached)", s.call("mha", new, attn, yours, config.n_head),
                model.mha(new, attn, ours, config.n_head))
    check_cache_length(yours, 6)


def check_cache_length(cache: LayerCache, length: int) -> None:
    cached = [k.n_out for k in cache.keys] + [v.n_in for v in cache.values]
    if cached != [length] * len(cached):
        raise Failed([f"after mha on {length} tokens, each head's cache should hold {length} keys and values; "
                      f"yours holds {cached}",
                      "  hint: append each new token's key as a column of cache.keys[h] and its value "
                      "as a row of cache.values[h], before attending"])


# --- Exercise 8: the transformer block ------------------------------------------------------------
def check_block(s: Solution, lab: Lab) -> None:
    gpt = lab.model(TINY)
    block, config = gpt.params.h[1], gpt.config
    x = stream(gpt, IDS)
    check_close("transformer_block(block 1)", s.call("transformer_block", x, block, fresh_cache(config), config),
                model.transformer_block(x, block, fresh_cache(config), config), lambda: block_variants(x, block, config))


def block_variants(x: Tensor[Seq, Embed], block: model.Block, config: GPT2Config) -> dict[str, object]:
    """What a block computes with each classic mistake."""
    eps, n_head = config.layer_norm_epsilon, config.n_head

    def attn(h: Tensor[Seq, Embed], ln: model.LayerNorm) -> Tensor[Seq, Embed]:
        return model.mha(model.layer_norm(h, ln, eps), block.attn, fresh_cache(config), n_head)

    def mlp(h: Tensor[Seq, Embed], ln: model.LayerNorm) -> Tensor[Seq, Embed]:
        return model.ffn(model.layer_norm(h, ln, eps), block.mlp)

    a = attn(x, block.ln_1)
    normed_1 = model.layer_norm(x, block.ln_1, eps)
    normed_2 = model.layer_norm(normed_1 + model.mha(normed_1, block.attn, fresh_cache(config), n_head), block.ln_2, eps)
    post_1 = model.layer_norm(x + model.mha(x, block.attn, fresh_cache(config), n_head), block.ln_1, eps)
    return {
        "no residual connections: x = x + mha(...), then x = x + ffn(...)": mlp(a, block.ln_2),
        "no residual around attention: x = x + mha(layer_norm(x, ln_1))": a + mlp(a, block.ln_2),
        "no residual around the MLP: x = x + ffn(layer_norm(x, ln_2))": mlp(x + a, block.ln_2),
        "ln_1 used twice: the MLP reads layer_norm(x, block.ln_2)": x + a + mlp(x + a, block.ln_1),
        "the stream itself was normalised: add onto x, and normalise only the copy each layer reads":
            normed_2 + model.ffn(normed_2, block.mlp),
        "post-norm (layer norm after the addition): GPT-2 normalises before, x + mha(layer_norm(x))":
            model.layer_norm(post_1 + model.ffn(post_1, block.mlp), block.ln_2, eps),
    }


# --- Exercise 9: the tied output layer -------------------------------------------------------------
def check_output_layer(s: Solution, lab: Lab) -> None:
    gpt = lab.model(VOCAB)
    params, config = gpt.params, gpt.config
    x = model.hidden_states(lab.tokenizer.encode(TEXT), params, new_kv_cache(config), config)
    check_close("lm_head(the last block's output)", s.call("lm_head", x, params, config), model.lm_head(x, params, config), lambda: {
        "the final layer norm is missing: layer_norm(x, params.ln_f) first": x @ params.wte.T,
        "layer norm without epsilon: pass config.layer_norm_epsilon": x.layer_norm(params.ln_f.weight, params.ln_f.bias, 0.0)
        @ params.wte.T,
    })


# --- Exercise 10: a KV-cached step ----------------------------------------------------------------
def step_at(ids: Sequence[int], gpt: GPT2, kv_cache: model.KVCache, start: int, row: int) -> Tensor[One, Vocab]:
    """A decode step with the position and the scored row given (to compute the classic mistakes)."""
    x = model.embed(ids, gpt.params, start)
    for block, cache in zip(gpt.params.h, kv_cache.layers):
        x = model.transformer_block(x, block, cache, gpt.config)
    return model.lm_head(take_rows(x, [row], ONE), gpt.params, gpt.config)


def check_decode_step(s: Solution, lab: Lab) -> None:
    gpt = lab.model(VOCAB)
    params, config = gpt.params, gpt.config
    prompt, continuation = lab.greedy_continuation(VOCAB)

    cache = new_kv_cache(config)
    logits = s.call("gpt2", prompt, params, cache, config)
    check_close(f"gpt2(a {len(prompt)}-token prompt, empty cache)", logits, model.gpt2(prompt, params, new_kv_cache(config), config), lambda: {
        "the first position was scored: the next token is predicted by the LAST row": step_at(prompt, gpt, new_kv_cache(config), 0, 0),
    })
    if cache.length != len(prompt):
        raise Failed([f"after the prompt the cache holds {cache.length} positions, expected {len(prompt)}",
                      "  hint: pass each block its own cache, kv_cache.layers[i], to transformer_block"])

    token = continuation[0]
    after_prompt = new_kv_cache(config)
    model.gpt2(prompt, params, after_prompt, config)
    check_close("gpt2([the next token], the prompt's cache)", s.call("gpt2", [token], params, cache, config),
                model.gpt2([*prompt, token], params, new_kv_cache(config), config), lambda: {
        "the new token was put at position 0: it is at position kv_cache.length": step_at([token], gpt, after_prompt, 0, 0),
        "the cache was not used: the new token must attend to the prompt's cached keys":
            model.gpt2([token], params, new_kv_cache(config), config),
    })

    # Greedy decoding with your steps must give what transformers gave (tests/fixtures/README.md).
    cache, step, new = new_kv_cache(config), prompt, []
    for _ in continuation:
        row = s.call("gpt2", step, params, cache, config)
        assert isinstance(row, Tensor)  # (checked above: the same function returned a Tensor)
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


def check_sampling(s: Solution, lab: Lab) -> None:
    gpt = lab.model(VOCAB)
    logits = gpt.next_token_logits(lab.tokenizer.encode(TEXT))
    for temperature in (1.0, 0.7, 1.6):
        check_close(f"softmax(logits, temperature={temperature})", s.call("softmax", logits, temperature),
                    sampling.softmax(logits, temperature), lambda: {
            "multiplied by the temperature: divide the logits by it": sampling.softmax(logits, 1.0 / temperature),
            "the temperature was ignored": sampling.softmax(logits, 1.0),
        })
    try:
        huge = s.call("softmax", [1000.0, 999.0, 0.0], 1.0)
    except OverflowError:
        raise Failed(["softmax([1000.0, 999.0, 0.0]): OverflowError",
                      "  hint: subtract the largest logit before exp(); it cancels out, and exp() never sees a huge number"]) from None
    check_close("softmax([1000.0, 999.0, 0.0])", huge, sampling.softmax([1000.0, 999.0, 0.0]))

    probs = sampling.softmax(logits, 0.8)
    for k in (1, 5, 40):
        want = sampling.top_k_candidates(probs, k)
        check_equal(f"top_k_candidates(probs, k={k})", s.call("top_k_candidates", probs, k), want, lambda: {
            "least likely first: sort by probability, largest first": sorted(range(len(probs)), key=probs.__getitem__)[:k],
            "sorted by token id: the most likely must come first": sorted(want),
            "one candidate too many: keep exactly k": sampling.top_k_candidates(probs, k + 1),
            "one candidate too few: keep exactly k": sampling.top_k_candidates(probs, k - 1),
        })

    halves = [0.5, 0.25, 0.125, 0.125]  # the running total hits p = 0.75 exactly
    ranked = sampling.top_k_candidates(probs, len(probs))
    cases = [(halves, [0, 1, 2, 3], 0.75), (probs, ranked, 0.5), (probs, ranked, 0.9), (probs, ranked[:10], 0.8)]
    for case_probs, candidates, p in cases:
        check_equal(f"top_p_candidates(probs, {len(candidates)} candidates, p={p})",
                    s.call("top_p_candidates", case_probs, candidates, p),
                    sampling.top_p_candidates(case_probs, candidates, p), lambda: {
            "stopped too early: keep the candidate that brings the total to p": top_p_variant(
                case_probs, candidates, p, keep_crossing=False),
            "kept going at exactly p: stop as soon as the total is >= p": top_p_variant(
                case_probs, candidates, p, strictly_above=True),
            "not renormalised: divide by the candidates' total (top-k may have cut the rest)": top_p_variant(
                case_probs, candidates, p, renormalise=False),
        })


# --- The exercises, in reading order ---------------------------------------------------------------
MODEL = "potatogpt.model"
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
]
