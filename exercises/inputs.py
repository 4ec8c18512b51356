"""The inputs both parts' checks compute from the tiny checkpoints, with potatogpt's own functions:
the residual stream entering block 0, what its attention reads, and one head's q, K^T and V."""

from __future__ import annotations

from collections.abc import Sequence

from potatogpt import model
from potatogpt.api import GPT2
from potatogpt.tensor import Ctx, Embed, HeadDim, Seq, Tensor, Weight

from .backprop import keys_and_values

IDS = [3, 17, 42, 8, 61, 29, 5]  # a row of tokens for tiny-prefixed


def stream(gpt: GPT2, ids: Sequence[int] = IDS, start: int = 0) -> Tensor[Seq, Embed]:
    """The residual stream entering block 0, for tokens from position `start`."""
    return model.embed(ids, gpt.params, start)


def normed(gpt: GPT2, ids: Sequence[int] = IDS, start: int = 0) -> Tensor[Seq, Embed]:
    """What block 0's attention reads: ln_1 of the stream."""
    return model.layer_norm(stream(gpt, ids, start), gpt.params.h[0].ln_1, gpt.config.layer_norm_epsilon)


def head_inputs(gpt: GPT2, head: int) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx], Weight[Ctx, HeadDim]]:
    """Block 0's queries for IDS in one head, and that head's K^T and V for all of IDS (as model.mha
    makes them: ln_1, c_attn, cut into q, k, v, then into heads)."""
    x = normed(gpt)
    head_dim = HeadDim(gpt.config.head_dim)
    q, k, v = (t.split_columns(gpt.config.n_head, head_dim)[head]
               for t in model.linear(x, gpt.params.h[0].attn.c_attn).split_columns(3, x.n_cols))
    k_t, values = keys_and_values(k, v)
    return q, k_t, values
