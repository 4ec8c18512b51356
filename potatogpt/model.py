"""GPT-2, one short function per idea in the paper.

The file reads top to bottom: the parameters (named as in the checkpoint, so each field is one
file in a weights folder: `wte`, `wpe`, `h.N.ln_1`, `h.N.attn.c_attn`, `h.N.mlp.c_fc`, `ln_f`),
the KV cache, then the forward pass, each function built from the ones above it: `gelu`,
`layer_norm`, `linear`, `ffn`, `attention_weights`, `attention`, `mha`, `transformer_block`, `embed`, `lm_head`, and
`gpt2`, the whole network.  Every tensor's shape is in its type: `Tensor[Seq, Embed]` is one row
per token being processed, one column per channel of the residual stream.  The multiply-adds
all happen inside `@` (tensor.py's `matmul`).

Nothing here loads files or knows how weights are stored; api.py does that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from .config import GPT2Config
from .tensor import (
    ONE,
    Ctx,
    Embed,
    Embedding,
    HeadDim,
    Hidden,
    One,
    Qkv,
    Seq,
    Tensor,
    Vocab,
    Weight,
    concat_columns,
    empty_weight,
    take_rows,
)

I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)
R = TypeVar("R", bound=int)


# --- Parameters, named as in the checkpoint ---------------------------------------------------
@dataclass(frozen=True)
class LayerNorm:
    weight: Tensor[One, Embed]  # the gain, often written gamma
    bias: Tensor[One, Embed]  # often written beta


@dataclass(frozen=True)
class Linear(Generic[I, O]):
    """An affine map from I channels to O channels (GPT-2's checkpoint calls it Conv1D)."""

    weight: Weight[I, O]
    bias: Tensor[One, O]


@dataclass(frozen=True)
class Attention:
    c_attn: Linear[Embed, Qkv]  # makes queries, keys and values in one product
    c_proj: Linear[Embed, Embed]  # mixes the heads' outputs back into the residual stream


@dataclass(frozen=True)
class MLP:
    c_fc: Linear[Embed, Hidden]  # expands to 4 x n_embd
    c_proj: Linear[Hidden, Embed]  # projects back


@dataclass(frozen=True)
class Block:
    ln_1: LayerNorm
    attn: Attention
    ln_2: LayerNorm
    mlp: MLP


@dataclass(frozen=True)
class Params:
    wte: Embedding[Vocab, Embed]  # token embeddings, also the output layer (weights are tied)
    wpe: Embedding[Ctx, Embed]  # position embeddings, one row per position 0 .. n_ctx-1
    h: list[Block]  # the transformer blocks
    ln_f: LayerNorm  # the final layer norm


# --- The KV cache -----------------------------------------------------------------------------
@dataclass
class LayerCache:
    """One block's keys and values for every position so far, one Weight per head.

    In attention both are the right operand of `@` (q @ K^T, then weights @ V), which reads its
    right operand column by column, so the cache keeps them as Weights, the column-by-column
    type: K^T's columns are the keys (one more per token) and V's columns are its channels
    (each one number longer per token).  Kept as rows, both would be transposed in full at
    every step, which at a long context costs more than the attention itself.
    """

    keys: list[Weight[HeadDim, Ctx]]  # K^T of each head: column j is position j's key
    values: list[Weight[Ctx, HeadDim]]  # V of each head: row j is position j's value


@dataclass
class KVCache:
    layers: list[LayerCache]

    @property
    def length(self) -> int:
        """Positions cached so far, which is also the next token's position."""
        return int(self.layers[0].keys[0].n_out)


def new_layer_cache(n_head: int, head_dim: HeadDim) -> LayerCache:
    """One block's cache with nothing in it yet."""
    return LayerCache(keys=[empty_weight(head_dim, Ctx(0)) for _ in range(n_head)],
                      values=[empty_weight(Ctx(0), head_dim) for _ in range(n_head)])


def new_kv_cache(config: GPT2Config) -> KVCache:
    return KVCache([new_layer_cache(config.n_head, HeadDim(config.head_dim)) for _ in range(config.n_layer)])


# --- The forward pass, from the smallest piece up -----------------------------------------------
def gelu(x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    """GPT-2's GELU: the tanh approximation of x * Phi(x)."""
    c = math.sqrt(2.0 / math.pi)
    return x.map(lambda v: 0.5 * v * (1.0 + math.tanh(c * (v + 0.044715 * v * v * v))))


def layer_norm(x: Tensor[R, Embed], ln: LayerNorm, eps: float) -> Tensor[R, Embed]:
    """Each row to mean 0 and variance 1, then GPT-2's learned gain and bias."""
    return x.layer_norm(ln.weight, ln.bias, eps)


def linear(x: Tensor[Seq, I], layer: Linear[I, O]) -> Tensor[Seq, O]:
    """x @ W + b: every token's channels mixed by the same weights."""
    return x @ layer.weight + layer.bias


def ffn(x: Tensor[Seq, Embed], mlp: MLP) -> Tensor[Seq, Embed]:
    """The position-wise feed-forward network: expand, GELU, project back."""
    return linear(gelu(linear(x, mlp.c_fc)), mlp.c_proj)


def attention_weights(q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx]) -> Tensor[Seq, Ctx]:
    """How much each query looks at each position: softmax(q K^T / sqrt(d)), row by row.

    The queries are the last q.n_rows of the positions the keys cover, so query i sits at
    position past + i and may look at keys 0 .. past + i only (the causal mask).
    """
    past = k_t.n_out - q.n_rows
    scores = (q @ k_t) * (1.0 / math.sqrt(q.n_cols))
    return scores.softmax_rows(causal_offset=past)


def attention(q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx], v: Weight[Ctx, HeadDim]) -> Tensor[Seq, HeadDim]:
    """softmax(q K^T / sqrt(d)) V: each query's output is a weighted average of the values."""
    return attention_weights(q, k_t) @ v


def mha(x: Tensor[Seq, Embed], attn: Attention, cache: LayerCache, n_head: int) -> Tensor[Seq, Embed]:
    """Multi-head causal self-attention: n_head attentions side by side, each over its own
    slice of the channels; this block's new keys and values join its cache first."""
    head_dim = HeadDim(x.n_cols // n_head)
    q, k, v = linear(x, attn.c_attn).split_columns(3, x.n_cols)
    heads = []
    for q_h, k_h, v_h, k_t, values in zip(
        q.split_columns(n_head, head_dim),
        k.split_columns(n_head, head_dim),
        v.split_columns(n_head, head_dim),
        cache.keys,
        cache.values,
    ):
        for key, value in zip(k_h.rows, v_h.rows):
            k_t.append_column(key)
            values.append_row(value)
        heads.append(attention(q_h, k_t, values))
    return linear(concat_columns(heads, x.n_cols), attn.c_proj)


def transformer_block(x: Tensor[Seq, Embed], block: Block, cache: LayerCache, config: GPT2Config) -> Tensor[Seq, Embed]:
    """Pre-norm residual block: attention, then the MLP, each added onto the stream."""
    eps = config.layer_norm_epsilon
    x = x + mha(layer_norm(x, block.ln_1, eps), block.attn, cache, config.n_head)
    x = x + ffn(layer_norm(x, block.ln_2, eps), block.mlp)
    return x


def embed(ids: Sequence[int], params: Params, start: int) -> Tensor[Seq, Embed]:
    """Each token's vector plus its position's vector; the first token is at position `start`."""
    seq = Seq(len(ids))
    return params.wte.lookup(ids, seq) + params.wpe.lookup(range(start, start + seq), seq)


def lm_head(x: Tensor[R, Embed], params: Params, config: GPT2Config) -> Tensor[R, Vocab]:
    """Final layer norm, then one score per vocabulary entry.  The output layer is the token
    embedding table, transposed (weight tying): a token scores high when x resembles its vector."""
    return layer_norm(x, params.ln_f, config.layer_norm_epsilon) @ params.wte.T


def hidden_states(ids: Sequence[int], params: Params, kv_cache: KVCache, config: GPT2Config) -> Tensor[Seq, Embed]:
    """The residual stream after the last block, for tokens at positions kv_cache.length onwards."""
    x = embed(ids, params, kv_cache.length)
    for block, cache in zip(params.h, kv_cache.layers):
        x = transformer_block(x, block, cache, config)
    return x


def gpt2(ids: Sequence[int], params: Params, kv_cache: KVCache, config: GPT2Config) -> Tensor[One, Vocab]:
    """Logits for the token after `ids`; only the last position goes through the output layer."""
    x = hidden_states(ids, params, kv_cache, config)
    return lm_head(take_rows(x, [x.n_rows - 1], ONE), params, config)
