"""Deliberately wrong solutions: each makes one classic mistake, and type-checks.

tests/test_exercises.py plugs each into an otherwise correct solution and requires the grader to
fail that exercise with the hint in WRONG.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

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
    empty_weight,
    from_rows,
    take_rows,
)
from potatogpt.tokenizer import merge

R = TypeVar("R", bound=int)
I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)


# --- Exercise 1 ---------------------------------------------------------------------------------
def bytes_to_unicode_unshifted() -> dict[int, str]:
    return {b: chr(b) for b in range(256)}


def merge_first_only(parts: list[str], pair: tuple[str, str]) -> list[str]:
    for i in range(len(parts) - 1):
        if parts[i] == pair[0] and parts[i + 1] == pair[1]:
            return parts[:i] + [pair[0] + pair[1]] + parts[i + 2:]
    return parts


def bpe_latest_first(symbols: str, ranks: Mapping[tuple[str, str], int]) -> list[str]:
    parts = list(symbols)
    while True:
        known = [pair for pair in zip(parts, parts[1:]) if pair in ranks]
        if not known:
            return parts
        parts = merge(parts, max(known, key=lambda pair: ranks[pair]))


# --- Exercises 2 to 5 ---------------------------------------------------------------------------
def embed_tokens_only(ids: Sequence[int], params: Params, start: int) -> Tensor[Seq, Embed]:
    return params.wte.lookup(ids, Seq(len(ids)))


def embed_from_zero(ids: Sequence[int], params: Params, start: int) -> Tensor[Seq, Embed]:
    seq = Seq(len(ids))
    return params.wte.lookup(ids, seq) + params.wpe.lookup(range(seq), seq)


def gelu_erf(x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    return x.map(lambda v: 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))))


def layer_norm_no_eps(x: Tensor[R, Embed], ln: LayerNorm, eps: float) -> Tensor[R, Embed]:
    out = []
    for row in x.rows:
        mean = sum(row) / len(row)
        var = sum((v - mean) ** 2 for v in row) / len(row)
        out.append([(v - mean) / math.sqrt(var) * g + b for v, g, b in zip(row, ln.weight.row(0), ln.bias.row(0))])
    return from_rows(out, x.n_rows, x.n_cols)


def linear_no_bias(x: Tensor[Seq, I], layer: Linear[I, O]) -> Tensor[Seq, O]:
    return x @ layer.weight


def ffn_no_gelu(x: Tensor[Seq, Embed], mlp: MLP) -> Tensor[Seq, Embed]:
    return model.linear(model.linear(x, mlp.c_fc), mlp.c_proj)


# --- Exercise 6 ---------------------------------------------------------------------------------
def attention_weights_with(scale: Callable[[int], float], visible: Callable[[int, int], int]
                           ) -> Callable[[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx]], Tensor[Seq, Ctx]]:
    """A hand-written attention_weights: the scores times scale(head_dim); row i softmaxed over
    its first visible(past, i) columns."""

    def attention_weights(q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx]) -> Tensor[Seq, Ctx]:
        past = k_t.n_out - q.n_rows
        scores = (q @ k_t) * scale(q.n_cols)
        out = []
        for i, row in enumerate(scores.rows):
            seen = row[: visible(past, i)]
            exps = [math.exp(s - max(seen)) for s in seen]
            out.append([e / sum(exps) for e in exps] + [0.0] * (len(row) - len(seen)))
        return from_rows(out, q.n_rows, k_t.n_out)

    return attention_weights


def scaled(d: int) -> float:
    return 1.0 / math.sqrt(d)


def causal(past: int, i: int) -> int:
    return past + i + 1


def attention_weights_column_softmax(q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx]) -> Tensor[Seq, Ctx]:
    """The mask right, but each column normalised over the queries that can see it."""
    past = k_t.n_out - q.n_rows
    scores = ((q @ k_t) * scaled(q.n_cols)).T.rows
    columns = []
    for j, column in enumerate(scores):
        exps = [math.exp(s) if j <= past + i else 0.0 for i, s in enumerate(column)]
        columns.append([e / sum(exps) for e in exps])
    return from_rows(columns, k_t.n_out, q.n_rows).T


# --- Exercises 7 to 10 ---------------------------------------------------------------------------
def mha_without_cache(x: Tensor[Seq, Embed], attn: Attention, cache: LayerCache, n_head: int) -> Tensor[Seq, Embed]:
    """Attends over this call's tokens only: right for a prompt, and the cache stays empty."""
    head_dim = HeadDim(x.n_cols // n_head)
    q, k, v = model.linear(x, attn.c_attn).split_columns(3, x.n_cols)
    heads = []
    for q_h, k_h, v_h in zip(*(t.split_columns(n_head, head_dim) for t in (q, k, v))):
        k_t, values = empty_weight(head_dim, Ctx(0)), empty_weight(Ctx(0), head_dim)
        for key, value in zip(k_h.rows, v_h.rows):
            k_t.append_column(key)
            values.append_row(value)
        heads.append(model.attention(q_h, k_t, values))
    return model.linear(concat_columns(heads, x.n_cols), attn.c_proj)


def block_no_residual(x: Tensor[Seq, Embed], block: Block, cache: LayerCache, config: GPT2Config) -> Tensor[Seq, Embed]:
    eps = config.layer_norm_epsilon
    x = model.mha(model.layer_norm(x, block.ln_1, eps), block.attn, cache, config.n_head)
    return model.ffn(model.layer_norm(x, block.ln_2, eps), block.mlp)


def lm_head_no_final_norm(x: Tensor[R, Embed], params: Params, config: GPT2Config) -> Tensor[R, Vocab]:
    return x @ params.wte.T


def gpt2_positions_from_zero(ids: Sequence[int], params: Params, kv_cache: KVCache, config: GPT2Config) -> Tensor[One, Vocab]:
    x = model.embed(ids, params, 0)
    for block, cache in zip(params.h, kv_cache.layers):
        x = model.transformer_block(x, block, cache, config)
    return model.lm_head(take_rows(x, [x.n_rows - 1], ONE), params, config)


# --- Exercise 11 ---------------------------------------------------------------------------------
def softmax_times_temperature(logits: Sequence[float], temperature: float = 1.0) -> list[float]:
    top = max(logits)
    exps = [math.exp((v - top) * temperature) for v in logits]
    total = sum(exps)
    return [e / total for e in exps]


def softmax_no_max(logits: Sequence[float], temperature: float = 1.0) -> list[float]:
    exps = [math.exp(v / temperature) for v in logits]
    total = sum(exps)
    return [e / total for e in exps]


def top_p_stops_early(probs: Sequence[float], candidates: Sequence[int], p: float) -> list[int]:
    total = sum(probs[i] for i in candidates)
    kept: list[int] = []
    mass = 0.0
    for i in candidates:
        mass += probs[i] / total
        if mass >= p and kept:
            break
        kept.append(i)
    return kept


# (exercise, the wrong function under its exercise name, words the grader's hint must contain)
WRONG: list[tuple[int, str, Callable[..., object], str]] = [
    (1, "bytes_to_unicode", bytes_to_unicode_unshifted, "every byte stands for itself"),
    (1, "merge", merge_first_only, "only the first occurrence"),
    (1, "bpe", bpe_latest_first, "pick the LOWEST rank"),
    (2, "embed", embed_tokens_only, "add the position vectors"),
    (2, "embed", embed_from_zero, "the positions started at 0"),
    (3, "gelu", gelu_erf, "tanh approximation"),
    (4, "layer_norm", layer_norm_no_eps, "no epsilon"),
    (5, "linear", linear_no_bias, "the bias is missing"),
    (5, "ffn", ffn_no_gelu, "the GELU is missing"),
    (6, "attention_weights", attention_weights_with(lambda d: 1.0, causal), "no 1/sqrt(head_dim) scale"),
    (6, "attention_weights", attention_weights_with(scaled, lambda past, i: past + i + 2), "also saw position past + i + 1"),
    (6, "attention_weights", attention_weights_with(scaled, lambda past, i: past + i), "did not see itself"),
    (6, "attention_weights", attention_weights_with(scaled, lambda past, i: i + 1), "the mask ignores the cache"),
    (6, "attention_weights", attention_weights_with(scaled, lambda past, i: past + i + 10**9), "no causal mask"),
    (6, "attention_weights", attention_weights_column_softmax, "softmax over the wrong axis"),
    (7, "mha", mha_without_cache, "append each new token's key"),
    (8, "transformer_block", block_no_residual, "no residual"),
    (9, "lm_head", lm_head_no_final_norm, "the final layer norm is missing"),
    (10, "gpt2", gpt2_positions_from_zero, "at position kv_cache.length"),
    (11, "softmax", softmax_times_temperature, "multiplied by the temperature"),
    (11, "softmax", softmax_no_max, "subtract the largest logit"),
    (11, "top_p_candidates", top_p_stops_early, "keep the candidate that brings the total to p"),
]
