"""Wrong solutions as students write them: each one written from its lesson's text alone, the
way a first attempt goes (a constant typed from memory, a loop that forgets the cache, a sort
that breaks ties the other way), not built to match a hint.  Some do not type-check, as a student's
first try often does not; the grader must still say what is wrong.

tests/test_exercises.py plugs each into an otherwise correct solution and requires the grader to
catch it, with the status and the words in STUDENTS; where the words are None, the grader only has
to catch it (no known mistake explains it).  wrong.py holds the older, simpler set.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, TypeVar

from potatogpt import model
from potatogpt.config import GPT2Config
from potatogpt.model import MLP, Attention, Block, KVCache, LayerCache, LayerNorm, Linear, Params
from potatogpt.tensor import (
    ONE,
    Ctx,
    Embed,
    HeadDim,
    Hidden,
    One,
    Seq,
    Tensor,
    Vocab,
    Weight,
    concat_columns,
    from_rows,
    take_rows,
)

R = TypeVar("R", bound=int)
I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)


# --- Exercise 1 ---------------------------------------------------------------------------------
def bytes_to_unicode_soft_hyphen_printable() -> dict[int, str]:
    """'¡' to 'ÿ' read as one range: 0xAD slips in."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("ÿ") + 1))
    table = {b: chr(b) for b in printable}
    n = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + n)
            n += 1
    return table


def bytes_to_unicode_counts_first() -> dict[int, str]:
    """The counter goes up before it is used."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {}
    n = 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            n += 1
            table[b] = chr(256 + n)
    return table


def merge_forgets_to_skip(parts: list[str], pair: tuple[str, str]) -> list[str]:
    out = []
    i = 0
    while i < len(parts):
        if i + 1 < len(parts) and parts[i] == pair[0] and parts[i + 1] == pair[1]:
            out.append(parts[i] + parts[i + 1])
        elif not (i > 0 and parts[i - 1] == pair[0] and parts[i] == pair[1]):
            out.append(parts[i])
        i += 1
    return out


def merge_with_replace(parts: list[str], pair: tuple[str, str]) -> list[str]:
    if not parts:
        return []
    text = " ".join(parts)
    return text.replace(pair[0] + " " + pair[1], pair[0] + pair[1]).split(" ")


def _merge(parts: list[str], pair: tuple[str, str]) -> list[str]:
    """(The student's own merge, which is right.)"""
    out: list[str] = []
    i = 0
    while i < len(parts):
        if i + 1 < len(parts) and (parts[i], parts[i + 1]) == pair:
            out.append(parts[i] + parts[i + 1])
            i += 2
        else:
            out.append(parts[i])
            i += 1
    return out


def bpe_first_pair_found(symbols: str, ranks: Mapping[tuple[str, str], int]) -> list[str]:
    """Walks the word and merges the first pair it knows."""
    parts = list(symbols)
    merged = True
    while merged:
        merged = False
        for pair in zip(parts, parts[1:]):
            if pair in ranks:
                parts = _merge(parts, pair)
                merged = True
                break
    return parts


def bpe_if_not_while(symbols: str, ranks: Mapping[tuple[str, str], int]) -> list[str]:
    parts = list(symbols)
    pairs = [pair for pair in zip(parts, parts[1:]) if pair in ranks]
    if pairs:
        best = min(pairs, key=lambda pair: ranks[pair])
        parts = _merge(parts, best)
    return parts


# --- Exercise 2 ---------------------------------------------------------------------------------
def embed_positions_from_one(ids: Sequence[int], params: Params, start: int) -> Tensor[Seq, Embed]:
    seq = Seq(len(ids))
    return params.wte.lookup(ids, seq) + params.wpe.lookup(range(start + 1, start + 1 + seq), seq)


def embed_range_to_len(ids: Sequence[int], params: Params, start: int) -> Tensor[Seq, Embed]:
    seq = Seq(len(ids))
    return params.wte.lookup(ids, seq) + params.wpe.lookup(range(start, len(ids)), seq)


def embed_tables_swapped(ids: Sequence[int], params: Params, start: int) -> Tensor[Seq, Embed]:
    seq = Seq(len(ids))
    return params.wpe.lookup(ids, seq) + params.wte.lookup(range(start, start + seq), seq)


# --- Exercise 3 ---------------------------------------------------------------------------------
def gelu_constant_typo(x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    c = math.sqrt(2.0 / math.pi)
    return x.map(lambda v: 0.5 * v * (1.0 + math.tanh(c * (v + 0.04475 * v**3))))


def gelu_sqrt_two_pi(x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    c = math.sqrt(2.0 * math.pi)
    return x.map(lambda v: 0.5 * v * (1.0 + math.tanh(c * (v + 0.044715 * v**3))))


def gelu_squared(x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    c = math.sqrt(2.0 / math.pi)
    return x.map(lambda v: 0.5 * v * (1.0 + math.tanh(c * (v + 0.044715 * v * v))))


def gelu_without_one_plus(x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    c = math.sqrt(2.0 / math.pi)
    return x.map(lambda v: 0.5 * v * math.tanh(c * (v + 0.044715 * v**3)))


def gelu_sigmoid(x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    """The approximation from the GELU paper's other formula."""
    return x.map(lambda v: v / (1.0 + math.exp(-1.702 * v)))


def gelu_in_place(x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    c = math.sqrt(2.0 / math.pi)
    for row in x.rows:
        for j, v in enumerate(row):
            row[j] = 0.5 * v * (1.0 + math.tanh(c * (v + 0.044715 * v**3)))
    return x


# --- Exercise 4 ---------------------------------------------------------------------------------
def layer_norm_fixed_eps(x: Tensor[R, Embed], ln: LayerNorm, eps: float) -> Tensor[R, Embed]:
    out = []
    for row in x.rows:
        mean = sum(row) / len(row)
        var = sum((v - mean) ** 2 for v in row) / len(row)
        out.append([(v - mean) / math.sqrt(var + 1e-5) * g + b for v, g, b in zip(row, ln.weight.row(0), ln.bias.row(0))])
    return from_rows(out, x.n_rows, x.n_cols)


def layer_norm_over_variance(x: Tensor[R, Embed], ln: LayerNorm, eps: float) -> Tensor[R, Embed]:
    out = []
    for row in x.rows:
        mean = sum(row) / len(row)
        var = sum((v - mean) ** 2 for v in row) / len(row)
        out.append([(v - mean) / (var + eps) * g + b for v, g, b in zip(row, ln.weight.row(0), ln.bias.row(0))])
    return from_rows(out, x.n_rows, x.n_cols)


def layer_norm_statistics_variance(x: Tensor[R, Embed], ln: LayerNorm, eps: float) -> Tensor[R, Embed]:
    """statistics.variance is the sample variance (n - 1)."""
    out = []
    for row in x.rows:
        mean = statistics.mean(row)
        var = statistics.variance(row)
        out.append([(v - mean) / math.sqrt(var + eps) * g + b for v, g, b in zip(row, ln.weight.row(0), ln.bias.row(0))])
    return from_rows(out, x.n_rows, x.n_cols)


def layer_norm_pstdev_plus_eps(x: Tensor[R, Embed], ln: LayerNorm, eps: float) -> Tensor[R, Embed]:
    out = []
    for row in x.rows:
        mean = statistics.fmean(row)
        std = statistics.pstdev(row)
        out.append([(v - mean) / (std + eps) * g + b for v, g, b in zip(row, ln.weight.row(0), ln.bias.row(0))])
    return from_rows(out, x.n_rows, x.n_cols)


def layer_norm_in_place(x: Tensor[R, Embed], ln: LayerNorm, eps: float) -> Tensor[R, Embed]:
    """The issue's case: the right numbers, written into x.rows."""
    gain, bias = ln.weight.row(0), ln.bias.row(0)
    for row in x.rows:
        mean = sum(row) / len(row)
        var = sum((v - mean) ** 2 for v in row) / len(row)
        for j in range(len(row)):
            row[j] = (row[j] - mean) / math.sqrt(var + eps) * gain[j] + bias[j]
    return from_rows(x.rows, x.n_rows, x.n_cols)


# --- Exercise 5 ---------------------------------------------------------------------------------
def linear_by_hand_without_bias(x: Tensor[Seq, I], layer: Linear[I, O]) -> Tensor[Seq, O]:
    rows = [[sum(a * w for a, w in zip(row, column)) for column in layer.weight.columns] for row in x.rows]
    return from_rows(rows, x.n_rows, layer.weight.n_out)


def ffn_gelu_last(x: Tensor[Seq, Embed], mlp: MLP) -> Tensor[Seq, Embed]:
    return model.gelu(model.linear(model.linear(x, mlp.c_fc), mlp.c_proj))  # type: ignore[arg-type,return-value]  # (the mistake)


def ffn_layers_swapped(x: Tensor[Seq, Embed], mlp: MLP) -> Tensor[Seq, Embed]:
    return model.linear(model.gelu(model.linear(x, mlp.c_proj)), mlp.c_fc)  # type: ignore[arg-type,misc]  # (the mistake)


def ffn_relu(x: Tensor[Seq, Embed], mlp: MLP) -> Tensor[Seq, Embed]:
    inside = model.linear(x, mlp.c_fc).map(lambda v: max(0.0, v))
    return model.linear(inside, mlp.c_proj)


# --- Exercise 6 ---------------------------------------------------------------------------------
def softmax_row(values: list[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def attention_weights_keys_scale(q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx]) -> Tensor[Seq, Ctx]:
    """Read "1/sqrt(d)" as the number of positions."""
    past = k_t.n_out - q.n_rows
    scores = (q @ k_t) * (1.0 / math.sqrt(k_t.n_out))
    out = []
    for i, row in enumerate(scores.rows):
        visible = row[: past + i + 1]
        out.append(softmax_row(visible) + [0.0] * (len(row) - len(visible)))
    return from_rows(out, q.n_rows, k_t.n_out)


def attention_weights_scale_after(q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx]) -> Tensor[Seq, Ctx]:
    past = k_t.n_out - q.n_rows
    out = []
    for i, row in enumerate((q @ k_t).rows):
        visible = row[: past + i + 1]
        out.append(softmax_row(visible) + [0.0] * (len(row) - len(visible)))
    return from_rows(out, q.n_rows, k_t.n_out) * (1.0 / math.sqrt(q.n_cols))


def attention_weights_masked_zero(q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx]) -> Tensor[Seq, Ctx]:
    past = k_t.n_out - q.n_rows
    scores = (q @ k_t) * (1.0 / math.sqrt(q.n_cols))
    masked = [[s if j <= past + i else 0.0 for j, s in enumerate(row)] for i, row in enumerate(scores.rows)]
    out = []
    for i, row in enumerate(masked):
        probs = softmax_row(row)
        out.append([p if j <= past + i else 0.0 for j, p in enumerate(probs)])
    return from_rows(out, q.n_rows, k_t.n_out)


def attention_weights_whole_row_total(q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx]) -> Tensor[Seq, Ctx]:
    past = k_t.n_out - q.n_rows
    scores = (q @ k_t) * (1.0 / math.sqrt(q.n_cols))
    out = []
    for i, row in enumerate(scores.rows):
        top = max(row[: past + i + 1])
        total = sum(math.exp(s - top) for s in row)
        out.append([math.exp(s - top) / total if j <= past + i else 0.0 for j, s in enumerate(row)])
    return from_rows(out, q.n_rows, k_t.n_out)


def attention_weights_offset_backwards(q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx]) -> Tensor[Seq, Ctx]:
    scores = (q @ k_t) * (1.0 / math.sqrt(q.n_cols))
    return scores.softmax_rows(causal_offset=q.n_rows - k_t.n_out)


def attention_weights_offset_zero(q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx]) -> Tensor[Seq, Ctx]:
    scores = (q @ k_t) * (1.0 / math.sqrt(q.n_cols))
    return scores.softmax_rows(causal_offset=0)


def attention_weights_times_sqrt(q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx]) -> Tensor[Seq, Ctx]:
    past = k_t.n_out - q.n_rows
    scores = (q @ k_t) * math.sqrt(q.n_cols)
    return scores.softmax_rows(causal_offset=past)


# --- Exercise 7 ---------------------------------------------------------------------------------
def mha_split_arguments_swapped(x: Tensor[Seq, Embed], attn: Attention, cache: LayerCache, n_head: int) -> Tensor[Seq, Embed]:
    head_dim = HeadDim(x.n_cols // n_head)
    q, k, v = model.linear(x, attn.c_attn).split_columns(3, x.n_cols)
    q_heads, k_heads, v_heads = (t.split_columns(head_dim, HeadDim(n_head)) for t in (q, k, v))
    heads = []
    for h in range(n_head):
        for key, value in zip(k_heads[h].rows, v_heads[h].rows):
            cache.keys[h].append_column(key)
            cache.values[h].append_row(value)
        heads.append(model.attention(q_heads[h], cache.keys[h], cache.values[h]))
    return model.linear(concat_columns(heads, x.n_cols), attn.c_proj)


def mha_cache_after_attention(x: Tensor[Seq, Embed], attn: Attention, cache: LayerCache, n_head: int) -> Tensor[Seq, Embed]:
    head_dim = HeadDim(x.n_cols // n_head)
    q, k, v = model.linear(x, attn.c_attn).split_columns(3, x.n_cols)
    q_heads, k_heads, v_heads = (t.split_columns(n_head, head_dim) for t in (q, k, v))
    heads = []
    for h in range(n_head):
        heads.append(model.attention(q_heads[h], cache.keys[h], cache.values[h]))
        for key, value in zip(k_heads[h].rows, v_heads[h].rows):
            cache.keys[h].append_column(key)
            cache.values[h].append_row(value)
    return model.linear(concat_columns(heads, x.n_cols), attn.c_proj)


def mha_qvk(x: Tensor[Seq, Embed], attn: Attention, cache: LayerCache, n_head: int) -> Tensor[Seq, Embed]:
    """q, v, k: the order the student remembered."""
    head_dim = HeadDim(x.n_cols // n_head)
    q, v, k = model.linear(x, attn.c_attn).split_columns(3, x.n_cols)
    q_heads, k_heads, v_heads = (t.split_columns(n_head, head_dim) for t in (q, k, v))
    heads = []
    for h in range(n_head):
        for key, value in zip(k_heads[h].rows, v_heads[h].rows):
            cache.keys[h].append_column(key)
            cache.values[h].append_row(value)
        heads.append(model.attention(q_heads[h], cache.keys[h], cache.values[h]))
    return model.linear(concat_columns(heads, x.n_cols), attn.c_proj)


def mha_whole_rows_cached(x: Tensor[Seq, Embed], attn: Attention, cache: LayerCache, n_head: int) -> Tensor[Seq, Embed]:
    head_dim = HeadDim(x.n_cols // n_head)
    q, k, v = model.linear(x, attn.c_attn).split_columns(3, x.n_cols)
    heads = []
    for h, q_h in enumerate(q.split_columns(n_head, head_dim)):
        for key, value in zip(k.rows, v.rows):
            cache.keys[h].append_column(key)
            cache.values[h].append_row(value)
        heads.append(model.attention(q_h, cache.keys[h], cache.values[h]))
    return model.linear(concat_columns(heads, x.n_cols), attn.c_proj)


def mha_no_projection(x: Tensor[Seq, Embed], attn: Attention, cache: LayerCache, n_head: int) -> Tensor[Seq, Embed]:
    head_dim = HeadDim(x.n_cols // n_head)
    q, k, v = model.linear(x, attn.c_attn).split_columns(3, x.n_cols)
    q_heads, k_heads, v_heads = (t.split_columns(n_head, head_dim) for t in (q, k, v))
    heads = []
    for h in range(n_head):
        for key, value in zip(k_heads[h].rows, v_heads[h].rows):
            cache.keys[h].append_column(key)
            cache.values[h].append_row(value)
        heads.append(model.attention(q_heads[h], cache.keys[h], cache.values[h]))
    return concat_columns(heads, x.n_cols)


def mha_fills_cache_twice(x: Tensor[Seq, Embed], attn: Attention, cache: LayerCache, n_head: int) -> Tensor[Seq, Embed]:
    """A "fill the cache" loop first, and the lesson's loop kept as well."""
    head_dim = HeadDim(x.n_cols // n_head)
    q, k, v = model.linear(x, attn.c_attn).split_columns(3, x.n_cols)
    q_heads, k_heads, v_heads = (t.split_columns(n_head, head_dim) for t in (q, k, v))
    for h in range(n_head):
        for key, value in zip(k_heads[h].rows, v_heads[h].rows):
            cache.keys[h].append_column(key)
            cache.values[h].append_row(value)
    heads = []
    for h in range(n_head):
        for key, value in zip(k_heads[h].rows, v_heads[h].rows):
            cache.keys[h].append_column(key)
            cache.values[h].append_row(value)
        heads.append(model.attention(q_heads[h], cache.keys[h], cache.values[h]))
    return model.linear(concat_columns(heads, x.n_cols), attn.c_proj)


# --- Exercise 8 ---------------------------------------------------------------------------------
def block_parallel(x: Tensor[Seq, Embed], block: Block, cache: LayerCache, config: GPT2Config) -> Tensor[Seq, Embed]:
    eps = config.layer_norm_epsilon
    a = model.mha(model.layer_norm(x, block.ln_1, eps), block.attn, cache, config.n_head)
    m = model.ffn(model.layer_norm(x, block.ln_2, eps), block.mlp)
    return x + a + m


def block_ln_1_twice(x: Tensor[Seq, Embed], block: Block, cache: LayerCache, config: GPT2Config) -> Tensor[Seq, Embed]:
    eps = config.layer_norm_epsilon
    x = x + model.mha(model.layer_norm(x, block.ln_1, eps), block.attn, cache, config.n_head)
    return x + model.ffn(model.layer_norm(x, block.ln_1, eps), block.mlp)


def block_n_layer_heads(x: Tensor[Seq, Embed], block: Block, cache: LayerCache, config: GPT2Config) -> Tensor[Seq, Embed]:
    eps = config.layer_norm_epsilon
    x = x + model.mha(model.layer_norm(x, block.ln_1, eps), block.attn, cache, config.n_layer)
    return x + model.ffn(model.layer_norm(x, block.ln_2, eps), block.mlp)


def block_post_norm(x: Tensor[Seq, Embed], block: Block, cache: LayerCache, config: GPT2Config) -> Tensor[Seq, Embed]:
    eps = config.layer_norm_epsilon
    x = model.layer_norm(x + model.mha(x, block.attn, cache, config.n_head), block.ln_1, eps)
    return model.layer_norm(x + model.ffn(x, block.mlp), block.ln_2, eps)


# --- Exercise 9 ---------------------------------------------------------------------------------
def lm_head_last_blocks_norm(x: Tensor[R, Embed], params: Params, config: GPT2Config) -> Tensor[R, Vocab]:
    return model.layer_norm(x, params.h[-1].ln_2, config.layer_norm_epsilon) @ params.wte.T


def lm_head_norm_after(x: Tensor[R, Embed], params: Params, config: GPT2Config) -> Tensor[R, Vocab]:
    return model.layer_norm(x @ params.wte.T, params.ln_f, config.layer_norm_epsilon)  # type: ignore[operator,return-value]  # (the mistake; ex09's lesson explains this message)


def lm_head_last_row_only(x: Tensor[R, Embed], params: Params, config: GPT2Config) -> Tensor[R, Vocab]:
    last = take_rows(x, [x.n_rows - 1], ONE)
    return model.layer_norm(last, params.ln_f, config.layer_norm_epsilon) @ params.wte.T  # type: ignore[return-value]  # (the mistake)


# --- Exercise 10 --------------------------------------------------------------------------------
def gpt2_one_cache(ids: Sequence[int], params: Params, kv_cache: KVCache, config: GPT2Config) -> Tensor[One, Vocab]:
    x = model.embed(ids, params, kv_cache.length)
    for block in params.h:
        x = model.transformer_block(x, block, kv_cache.layers[0], config)
    return model.lm_head(take_rows(x, [x.n_rows - 1], ONE), params, config)


def gpt2_skips_last_block(ids: Sequence[int], params: Params, kv_cache: KVCache, config: GPT2Config) -> Tensor[One, Vocab]:
    x = model.embed(ids, params, kv_cache.length)
    for i in range(len(params.h) - 1):
        x = model.transformer_block(x, params.h[i], kv_cache.layers[i], config)
    return model.lm_head(take_rows(x, [x.n_rows - 1], ONE), params, config)


def gpt2_start_is_len(ids: Sequence[int], params: Params, kv_cache: KVCache, config: GPT2Config) -> Tensor[One, Vocab]:
    x = model.embed(ids, params, len(ids))
    for block, cache in zip(params.h, kv_cache.layers):
        x = model.transformer_block(x, block, cache, config)
    return model.lm_head(take_rows(x, [x.n_rows - 1], ONE), params, config)


def gpt2_next_position(ids: Sequence[int], params: Params, kv_cache: KVCache, config: GPT2Config) -> Tensor[One, Vocab]:
    """"The next position" read as one after the cached length."""
    x = model.embed(ids, params, kv_cache.length + 1)
    for block, cache in zip(params.h, kv_cache.layers):
        x = model.transformer_block(x, block, cache, config)
    return model.lm_head(take_rows(x, [x.n_rows - 1], ONE), params, config)


def gpt2_first_row(ids: Sequence[int], params: Params, kv_cache: KVCache, config: GPT2Config) -> Tensor[One, Vocab]:
    x = model.embed(ids, params, kv_cache.length)
    for block, cache in zip(params.h, kv_cache.layers):
        x = model.transformer_block(x, block, cache, config)
    return model.lm_head(take_rows(x, [0], ONE), params, config)


# --- Exercise 11 --------------------------------------------------------------------------------
def top_k_index_of_value(probs: Sequence[float], k: int) -> list[int]:
    best = sorted(probs, reverse=True)[:k]
    return [list(probs).index(p) for p in best]


def top_k_reversed_sort(probs: Sequence[float], k: int) -> list[int]:
    ranked = sorted(range(len(probs)), key=lambda i: probs[i])
    ranked.reverse()
    return ranked[:k]


def top_k_dict(probs: Sequence[float], k: int) -> list[int]:
    token_of = {p: i for i, p in enumerate(probs)}
    return [token_of[p] for p in sorted(token_of, reverse=True)[:k]]


def softmax_unnormalised(logits: Sequence[float], temperature: float = 1.0) -> list[float]:
    top = max(logits)
    return [math.exp((v - top) / temperature) for v in logits]


def softmax_power(logits: Sequence[float], temperature: float = 1.0) -> list[float]:
    """Softmax first, then the temperature as a power."""
    top = max(logits)
    exps = [math.exp(v - top) for v in logits]
    total = sum(exps)
    return [(e / total) ** (1.0 / temperature) for e in exps]


def top_p_positions(probs: Sequence[float], candidates: Sequence[int], p: float) -> list[int]:
    total = sum(probs[i] for i in candidates)
    mass = 0.0
    for n, i in enumerate(candidates):
        mass += probs[i] / total
        if mass >= p:
            return list(range(n + 1))
    return list(range(len(candidates)))


def top_p_strictly_above(probs: Sequence[float], candidates: Sequence[int], p: float) -> list[int]:
    total = sum(probs[i] for i in candidates)
    kept: list[int] = []
    mass = 0.0
    for i in candidates:
        kept.append(i)
        mass += probs[i] / total
        if mass > p:
            break
    return kept


def top_p_not_renormalised(probs: Sequence[float], candidates: Sequence[int], p: float) -> list[int]:
    kept: list[int] = []
    mass = 0.0
    for i in candidates:
        kept.append(i)
        mass += probs[i]
        if mass >= p:
            break
    return kept


class Student(NamedTuple):
    number: int  # the exercise
    name: str  # the function it replaces
    function: Callable[..., object]
    status: str  # the verdict the grader must give
    says: str | None  # words the hint (or the crash's explanation) must contain; None: caught, cause not named


STUDENTS: list[Student] = [
    Student(1, "bytes_to_unicode", bytes_to_unicode_soft_hyphen_printable, "failed", "0xAD (the soft hyphen) is not printable"),
    Student(1, "bytes_to_unicode", bytes_to_unicode_counts_first, "failed", "the stand-ins start one too late"),
    Student(1, "merge", merge_forgets_to_skip, "failed", "a merged pair was used again"),
    Student(1, "merge", merge_with_replace, "failed", "merged with str.replace"),
    Student(1, "bpe", bpe_first_pair_found, "failed", "the leftmost known pair was merged first"),
    Student(1, "bpe", bpe_if_not_while, "failed", "only one merge happened"),
    Student(2, "embed", embed_positions_from_one, "failed", "one too far on"),
    Student(2, "embed", embed_range_to_len, "crashed", "range(start, start + len(ids))"),
    Student(2, "embed", embed_tables_swapped, "crashed", "that looks like a token id"),
    Student(3, "gelu", gelu_constant_typo, "failed", "your cubic term's constant is 0.04475"),
    Student(3, "gelu", gelu_sqrt_two_pi, "failed", "your tanh's factor is sqrt(2 * pi)"),
    Student(3, "gelu", gelu_squared, "failed", "x**2 where the formula has x**3"),
    Student(3, "gelu", gelu_without_one_plus, "failed", "the `1 +` is missing"),
    Student(3, "gelu", gelu_sigmoid, "failed", "x * sigmoid(1.702 x)"),
    Student(3, "gelu", gelu_in_place, "changed its input", "your gelu wrote into its input x"),
    Student(4, "layer_norm", layer_norm_fixed_eps, "failed", "eps is a parameter"),
    Student(4, "layer_norm", layer_norm_over_variance, "failed", "divided by the variance"),
    Student(4, "layer_norm", layer_norm_statistics_variance, "failed", "divided by n - 1"),
    Student(4, "layer_norm", layer_norm_pstdev_plus_eps, "failed", "epsilon outside the square root"),
    Student(4, "layer_norm", layer_norm_in_place, "changed its input", "your layer_norm wrote into its input x"),
    Student(5, "linear", linear_by_hand_without_bias, "failed", "the bias is missing"),
    Student(5, "ffn", ffn_gelu_last, "failed", "GELU after the second layer"),
    Student(5, "ffn", ffn_layers_swapped, "crashed", "mlp.c_proj's weight"),
    Student(5, "ffn", ffn_relu, "failed", "ReLU in place of GELU"),
    Student(6, "attention_weights", attention_weights_keys_scale, "failed", "1/sqrt(the number of keys)"),
    Student(6, "attention_weights", attention_weights_scale_after, "failed", "applied after the softmax"),
    Student(6, "attention_weights", attention_weights_masked_zero, "failed", "masked scores were set to 0"),
    Student(6, "attention_weights", attention_weights_whole_row_total, "failed", "normalised by the whole row's sum"),
    Student(6, "attention_weights", attention_weights_offset_backwards, "failed", "past has the wrong sign"),
    Student(6, "attention_weights", attention_weights_offset_zero, "failed", "the mask ignores the cache"),
    Student(6, "attention_weights", attention_weights_times_sqrt, "failed", "multiplied by sqrt(head_dim)"),
    Student(7, "mha", mha_split_arguments_swapped, "crashed", "are the two swapped?"),
    Student(7, "mha", mha_cache_after_attention, "crashed", "join the cache BEFORE attention"),
    Student(7, "mha", mha_qvk, "failed", "k and v swapped"),
    Student(7, "mha", mha_whole_rows_cached, "crashed", "cut k and v into heads first"),
    Student(7, "mha", mha_no_projection, "failed", "no c_proj"),
    Student(7, "mha", mha_fills_cache_twice, "failed", "each token was appended twice"),
    Student(8, "transformer_block", block_parallel, "failed", "parallel branches"),
    Student(8, "transformer_block", block_ln_1_twice, "failed", "ln_1 used twice"),
    Student(8, "transformer_block", block_n_layer_heads, "crashed", "n_head is config.n_head = 4"),
    Student(8, "transformer_block", block_post_norm, "failed", "post-norm"),
    Student(9, "lm_head", lm_head_last_blocks_norm, "failed", "the output layer's layer norm is params.ln_f"),
    Student(9, "lm_head", lm_head_norm_after, "crashed", "those are logits"),
    Student(9, "lm_head", lm_head_last_row_only, "failed", "lm_head scores every row it is given"),
    Student(10, "gpt2", gpt2_one_cache, "failed", "every block was given the same cache"),
    Student(10, "gpt2", gpt2_skips_last_block, "failed", "the last block was skipped"),
    Student(10, "gpt2", gpt2_start_is_len, "failed", "the positions started at len(ids)"),
    Student(10, "gpt2", gpt2_next_position, "failed", "the positions started at 1"),
    Student(10, "gpt2", gpt2_first_row, "failed", "the first position was scored"),
    Student(11, "top_k_candidates", top_k_index_of_value, "failed", "the same token twice"),
    Student(11, "top_k_candidates", top_k_reversed_sort, "failed", "ties in the wrong order"),
    Student(11, "top_k_candidates", top_k_dict, "failed", "a dict keyed by probability"),
    Student(11, "softmax", softmax_unnormalised, "failed", "not normalised"),
    Student(11, "softmax", softmax_power, "failed", "raised to the power 1/T and not renormalised"),
    Student(11, "top_p_candidates", top_p_positions, "failed", "positions in `candidates`, not token ids"),
    Student(11, "top_p_candidates", top_p_strictly_above, "failed", "kept going at exactly p"),
    Student(11, "top_p_candidates", top_p_not_renormalised, "failed", "not renormalised"),
]
