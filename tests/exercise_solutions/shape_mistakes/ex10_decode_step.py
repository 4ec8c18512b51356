from collections.abc import Sequence

from potatogpt import model
from potatogpt.config import GPT2Config
from potatogpt.model import KVCache, Params
from potatogpt.tensor import One, Tensor, Vocab


def gpt2(ids: Sequence[int], params: Params, kv_cache: KVCache, config: GPT2Config) -> Tensor[One, Vocab]:
    x = model.embed(ids, params, kv_cache.length)
    for block, cache in zip(params.h, kv_cache.layers):
        x = model.transformer_block(x, block, cache, config)
    logits = model.lm_head(x, params, config)
    return logits  # mypy: return-value
