"""Exercise 7, solved."""

from __future__ import annotations

from potatogpt import model
from potatogpt.model import Attention, LayerCache
from potatogpt.tensor import Embed, HeadDim, Seq, Tensor, concat_columns


def mha(x: Tensor[Seq, Embed], attn: Attention, cache: LayerCache, n_head: int) -> Tensor[Seq, Embed]:
    head_dim = HeadDim(x.n_cols // n_head)
    q, k, v = model.linear(x, attn.c_attn).split_columns(3, x.n_cols)
    q_heads, k_heads, v_heads = (t.split_columns(n_head, head_dim) for t in (q, k, v))
    heads = []
    for h in range(n_head):
        for key, value in zip(k_heads[h].rows, v_heads[h].rows):
            cache.keys[h].append_column(key)
            cache.values[h].append_row(value)
        heads.append(model.attention(q_heads[h], cache.keys[h], cache.values[h]))
    return model.linear(concat_columns(heads, x.n_cols), attn.c_proj)
