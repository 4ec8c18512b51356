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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from .config import GPT2Config
from .kernels import no_cyclic_gc
from .parallel import WorkerPool
from .sampling import Sampler
from .tensor import (
    ONE,
    Ctx,
    Embed,
    HeadDim,
    Hidden,
    One,
    Qkv,
    Seq,
    Storage,
    Tensor,
    Vocab,
    concat_columns,
    from_flat,
    from_prepared,
    take_rows,
    weight_from_flat,
    zeros,
)
from .tokenizer import Tokenizer
from .weights import Checkpoint, open_checkpoint

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


# --- Loading ----------------------------------------------------------------------------------
def load_params(checkpoint: Checkpoint, storage: Storage = "exact", pool: WorkerPool | None = None) -> Params:
    """Turn a weights folder's packed floats into typed tensors.

    Matrices are stored [out, in] (see weights/README.md): each stored row is one column of the
    math's W in x @ W, exactly the orientation `@` reads.  `storage` picks how the kernels hold
    them (see tensor.Storage); biases, layer norms and position embeddings are plain rows.
    With a WorkerPool (--jobs), each matrix is split by output columns across processes.
    """
    config = checkpoint.config
    embed, hidden, qkv = Embed(config.n_embd), Hidden(4 * config.n_embd), Qkv(3 * config.n_embd)

    def row(name: str, width: O) -> Tensor[One, O]:
        return from_flat(checkpoint.read(name), ONE, width)

    def layer_norm_params(prefix: str) -> LayerNorm:
        return LayerNorm(row(f"{prefix}.weight", embed), row(f"{prefix}.bias", embed))

    def matrix(name: str, n_in: I, n_out: O) -> Tensor[I, O]:
        if pool is not None:
            return from_prepared(pool.weight(name), n_in, n_out)
        return weight_from_flat(checkpoint.read(name), n_in, n_out, storage)

    def linear_params(prefix: str, n_in: I, n_out: O) -> Linear[I, O]:
        return Linear(matrix(f"{prefix}.weight", n_in, n_out), row(f"{prefix}.bias", n_out))

    blocks = [
        Block(
            ln_1=layer_norm_params(f"h.{i}.ln_1"),
            attn=Attention(
                c_attn=linear_params(f"h.{i}.attn.c_attn", embed, qkv),
                c_proj=linear_params(f"h.{i}.attn.c_proj", embed, embed),
            ),
            ln_2=layer_norm_params(f"h.{i}.ln_2"),
            mlp=MLP(
                c_fc=linear_params(f"h.{i}.mlp.c_fc", embed, hidden),
                c_proj=linear_params(f"h.{i}.mlp.c_proj", hidden, embed),
            ),
        )
        for i in range(config.n_layer)
    ]
    # wte is stored [vocab, n_embd]: the rows of the embedding table, and at the same time the
    # columns of the output layer's weight (n_embd x vocab).  Held once, as that weight.
    output_weight = matrix("wte.weight", embed, Vocab(config.vocab_size))
    return Params(
        wte=output_weight.T,
        wpe=from_flat(checkpoint.read("wpe.weight"), Ctx(config.n_ctx), embed),
        h=blocks,
        ln_f=layer_norm_params("ln_f"),
    )


class ContextError(ValueError):
    """The tokens asked for don't fit in the model's context window."""


class GPT2:
    """A GPT-2 model and its tokenizer: the Python API (see README)."""

    def __init__(self, config: GPT2Config, params: Params, tokenizer: Tokenizer, pool: WorkerPool | None = None) -> None:
        self.config = config
        self.params = params
        self.tokenizer = tokenizer
        self.pool = pool

    def close(self) -> None:
        """Stop the worker processes of --jobs (they also stop when this process exits)."""
        if self.pool is not None:
            self.pool.close()

    def new_kv_cache(self) -> KVCache:
        return new_kv_cache(self.config)

    def forward(self, ids: Sequence[int], kv_cache: KVCache) -> list[float]:
        """Feed `ids` after what kv_cache holds; return the logits for the token that follows."""
        self._check(ids, kv_cache.length)
        return gpt2(ids, self.params, kv_cache, self.config.layer_norm_epsilon).row(0)

    def next_token_logits(self, ids: Sequence[int]) -> list[float]:
        """One score per vocabulary entry for the token after `ids` (a fresh forward pass)."""
        return self.forward(ids, self.new_kv_cache())

    def logits(self, ids: Sequence[int]) -> list[list[float]]:
        """Logits after every prefix of `ids`: row i scores the token at position i + 1."""
        kv_cache = self.new_kv_cache()
        self._check(ids, 0)
        eps = self.config.layer_norm_epsilon
        return lm_head(hidden_states(ids, self.params, kv_cache, eps), self.params, eps).tolist()

    def generate(
        self,
        ids: Sequence[int],
        max_new_tokens: int = 40,
        *,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop_at_eot: bool = True,
        logits_seen: list[list[float]] | None = None,
    ) -> Iterator[int]:
        """Yield new token ids one at a time, each the moment it is chosen.

        The prompt goes through once as a batch; after that each new token goes through every
        block as a single row, reusing the cached keys and values of all earlier positions.
        temperature=0 is greedy decoding.  If `logits_seen` is a list, the logits each token
        was chosen from are appended to it (the CLI's --show-top uses this).
        """
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be 0 or more, not {max_new_tokens}")
        # The last new token is never fed back in, so it needs no position of its own.
        needed = len(ids) + max_new_tokens - 1
        if max_new_tokens and needed > self.config.n_ctx:
            raise ContextError(
                f"{len(ids)} prompt tokens + {max_new_tokens} new tokens need {needed} positions, "
                f"but the model's context is {self.config.n_ctx}: shorten the prompt or ask for fewer tokens"
            )
        self._check(ids, 0)
        sampler = Sampler(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
        # Checked above, before the first token is asked for; the loop itself is a generator.
        return self._tokens(ids, max_new_tokens, sampler, stop_at_eot, logits_seen)

    def _tokens(
        self,
        ids: Sequence[int],
        max_new_tokens: int,
        sampler: Sampler,
        stop_at_eot: bool,
        logits_seen: list[list[float]] | None,
    ) -> Iterator[int]:
        if max_new_tokens == 0:
            return
        kv_cache = self.new_kv_cache()
        logits = self.forward(ids, kv_cache)
        for step in range(max_new_tokens):
            if logits_seen is not None:
                logits_seen.append(logits)
            token = sampler.choose(logits)
            yield token
            if (stop_at_eot and token == self.tokenizer.eot_id) or step == max_new_tokens - 1:
                return
            logits = self.forward([token], kv_cache)

    def _check(self, ids: Sequence[int], start: int) -> None:
        if not ids:
            raise ValueError("GPT-2 needs at least one token to condition on (use <|endoftext|> to start from nothing)")
        for token in ids:
            if not 0 <= token < self.config.vocab_size:
                raise ValueError(f"token id {token} is outside this model's vocabulary (0 .. {self.config.vocab_size - 1})")
        if start + len(ids) > self.config.n_ctx:
            raise ContextError(
                f"{start + len(ids)} positions exceed the model's context of {self.config.n_ctx} tokens"
            )


def load(folder: str | Path, *, storage: Storage = "exact", jobs: int = 1, verify_sha256: bool = False) -> GPT2:
    """Load a weights folder written by export_weights.py, with the tokenizer stored beside it.

    `storage` picks how weights are held (see tensor.Storage); `jobs` > 1 splits the matrix
    products across that many processes.  A folder without tokenizer files gets the bundled
    GPT-2 vocabulary.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    checkpoint = open_checkpoint(folder, verify_sha256=verify_sha256)
    tokenizer = Tokenizer.from_dir(checkpoint.folder) if checkpoint.has_tokenizer() else Tokenizer.gpt2()
    pool = WorkerPool(checkpoint, storage, jobs) if jobs > 1 else None
    try:
        with no_cyclic_gc():  # a third of the load time otherwise (see kernels.py)
            params = load_params(checkpoint, storage, pool)
        if pool is not None:
            pool.wait_until_ready()
    except BaseException:
        if pool is not None:
            pool.close()
        raise
    return GPT2(checkpoint.config, params, tokenizer, pool)
