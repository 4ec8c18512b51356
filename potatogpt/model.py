"""GPT-2, one short function per idea in the paper.

The forward pass is the middle of this file: `gelu` (one number at a time), `layer_norm`,
`linear`, `ffn`, `attention`, `mha`, `transformer_block`, and `gpt2` (the whole network), each
built from the ones above it.  Every tensor's
shape is in its type: `Tensor[Seq, Embed]` is one row per token being processed, one column per
channel of the residual stream.  Parameter names mirror the checkpoint (`wte`, `wpe`, `h.N.ln_1`,
`h.N.attn.c_attn`, `h.N.mlp.c_fc`, `ln_f`, ...), so each field maps to one file in a weights
folder.  The multiply-adds all happen inside `@`, whose fast loop lives in kernels.py.
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
    HeadDim,
    Hidden,
    One,
    Qkv,
    Seq,
    Tensor,
    Vocab,
    concat_columns,
    take_rows,
    zeros,
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

    weight: Tensor[I, O]
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
    wte: Tensor[Vocab, Embed]  # token embeddings, also the output layer (weights are tied)
    wpe: Tensor[Ctx, Embed]  # position embeddings, one row per position 0 .. n_ctx-1
    h: list[Block]  # the transformer blocks
    ln_f: LayerNorm  # the final layer norm


# --- The KV cache -----------------------------------------------------------------------------
@dataclass
class LayerCache:
    """Keys and values of every position seen so far, per head, for one block."""

    keys: list[Tensor[Ctx, HeadDim]]
    values: list[Tensor[Ctx, HeadDim]]


@dataclass
class KVCache:
    layers: list[LayerCache]
    length: int = 0  # positions cached so far: the next token's position


def new_kv_cache(config: GPT2Config) -> KVCache:
    head_dim = HeadDim(config.head_dim)
    return KVCache(
        [
            LayerCache(
                keys=[zeros(Ctx(0), head_dim) for _ in range(config.n_head)],
                values=[zeros(Ctx(0), head_dim) for _ in range(config.n_head)],
            )
            for _ in range(config.n_layer)
        ]
    )


# --- The forward pass, bottom-up ---------------------------------------------------------------
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


def attention(
    q: Tensor[Seq, HeadDim], k: Tensor[Ctx, HeadDim], v: Tensor[Ctx, HeadDim], past: int
) -> Tensor[Seq, HeadDim]:
    """softmax(q k^T / sqrt(d)) v, where token i (at position past + i) sees positions <= its own."""
    scores = (q @ k.T) * (1.0 / math.sqrt(q.n_cols))
    return scores.softmax_rows(causal_offset=past) @ v


def mha(x: Tensor[Seq, Embed], attn: Attention, cache: LayerCache) -> Tensor[Seq, Embed]:
    """Multi-head causal self-attention; this block's keys and values go into its cache."""
    n_head = len(cache.keys)
    head_dim = HeadDim(x.n_cols // n_head)
    q, k, v = linear(x, attn.c_attn).split_columns(3, x.n_cols)
    past = cache.keys[0].n_rows
    heads = []
    for q_h, k_h, v_h, keys, values in zip(
        q.split_columns(n_head, head_dim),
        k.split_columns(n_head, head_dim),
        v.split_columns(n_head, head_dim),
        cache.keys,
        cache.values,
    ):
        keys.append_rows(k_h)
        values.append_rows(v_h)
        heads.append(attention(q_h, keys, values, past))
    return linear(concat_columns(heads, x.n_cols), attn.c_proj)


def transformer_block(x: Tensor[Seq, Embed], block: Block, cache: LayerCache, eps: float) -> Tensor[Seq, Embed]:
    """Pre-norm residual block: attention, then the MLP, each added onto the stream."""
    x = x + mha(layer_norm(x, block.ln_1, eps), block.attn, cache)
    x = x + ffn(layer_norm(x, block.ln_2, eps), block.mlp)
    return x


def hidden_states(ids: Sequence[int], params: Params, kv_cache: KVCache, eps: float) -> Tensor[Seq, Embed]:
    """The residual stream after the last block, for tokens at positions kv_cache.length onwards."""
    seq = Seq(len(ids))
    start = kv_cache.length
    x = take_rows(params.wte, ids, seq) + take_rows(params.wpe, range(start, start + seq), seq)
    for block, cache in zip(params.h, kv_cache.layers):
        x = transformer_block(x, block, cache, eps)
    kv_cache.length += seq
    return x


def lm_head(x: Tensor[R, Embed], params: Params, eps: float) -> Tensor[R, Vocab]:
    """Final layer norm, then a score for every vocabulary entry (the tied token embeddings)."""
    return layer_norm(x, params.ln_f, eps) @ params.wte.T


def gpt2(ids: Sequence[int], params: Params, kv_cache: KVCache, eps: float) -> Tensor[One, Vocab]:
    """Logits for the token after `ids`; only the last position goes through the output layer."""
    x = hidden_states(ids, params, kv_cache, eps)
    return lm_head(take_rows(x, [x.n_rows - 1], ONE), params, eps)
