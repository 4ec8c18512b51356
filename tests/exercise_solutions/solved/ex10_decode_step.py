"""Exercise 10, solved."""

from __future__ import annotations

from collections.abc import Sequence

from potatogpt import model
from potatogpt.config import GPT2Config
from potatogpt.model import KVCache, Params
from potatogpt.tensor import ONE, One, Tensor, Vocab, take_rows


def gpt2(ids: Sequence[int], params: Params, kv_cache: KVCache, config: GPT2Config) -> Tensor[One, Vocab]:
    x = model.embed(ids, params, kv_cache.length)
    for block, cache in zip(params.h, kv_cache.layers):
        x = model.transformer_block(x, block, cache, config)
    return model.lm_head(take_rows(x, [x.n_rows - 1], ONE), params, config)
