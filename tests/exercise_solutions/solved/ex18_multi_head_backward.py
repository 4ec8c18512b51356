"""Exercise 18, solved."""

from __future__ import annotations

from exercises import backprop
from potatogpt import model
from potatogpt.model import Attention
from potatogpt.tensor import Embed, HeadDim, Qkv, Seq, Tensor, concat_columns, from_columns, from_rows


def mha_backward(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], attn: Attention, grad: Attention,
                 n_head: int) -> Tensor[Seq, Embed]:
    head_dim = HeadDim(x.n_cols // n_head)
    q, k, v = model.linear(x, attn.c_attn).split_columns(3, x.n_cols)
    q_heads, k_heads, v_heads = (t.split_columns(n_head, head_dim) for t in (q, k, v))
    caches = [backprop.keys_and_values(k_h, v_h) for k_h, v_h in zip(k_heads, v_heads)]
    heads = [model.attention(q_h, k_t, values) for q_h, (k_t, values) in zip(q_heads, caches)]
    joined = concat_columns(heads, x.n_cols)

    d_joined = backprop.linear_backward(dy, joined, attn.c_proj, grad.c_proj)
    dq, dk, dv = [], [], []
    for q_h, (k_t, values), d_head in zip(q_heads, caches, d_joined.split_columns(n_head, head_dim)):
        dq_h, dk_t, dv_h = backprop.attention_backward(d_head, q_h, k_t, values)
        dq.append(dq_h)
        dk.append(from_rows(dk_t.columns, x.n_rows, head_dim))
        dv.append(from_columns(dv_h.columns, x.n_rows, head_dim))
    d_qkv = concat_columns(dq + dk + dv, Qkv(3 * x.n_cols))
    return backprop.linear_backward(d_qkv, x, attn.c_attn, grad.c_attn)
