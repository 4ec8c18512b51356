from potatogpt import model
from potatogpt.model import Attention, LayerCache
from potatogpt.tensor import Embed, Seq, Tensor, concat_columns


def mha(x: Tensor[Seq, Embed], attn: Attention, cache: LayerCache, n_head: int) -> Tensor[Seq, Embed]:
    head_dim = x.n_cols // n_head
    q, k, v = model.linear(x, attn.c_attn).split_columns(3, x.n_cols)
    heads = []
    for h, (q_h, k_h, v_h) in enumerate(zip(q.split_columns(n_head, head_dim), k.split_columns(n_head, head_dim),
                                            v.split_columns(n_head, head_dim))):
        for key, value in zip(k_h.rows, v_h.rows):
            cache.keys[h].append_column(key)
            cache.values[h].append_row(value)
        heads.append(model.attention(q_h, cache.keys[h], cache.values[h]))  # mypy: arg-type
    return model.linear(concat_columns(heads, x.n_cols), attn.c_proj)
