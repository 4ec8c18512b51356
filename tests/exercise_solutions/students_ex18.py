"""Exercise 18 (multi-head attention, backward): wrong solutions as students write them."""

from __future__ import annotations

from exercises import backprop
from potatogpt import backward, model
from potatogpt.model import Attention
from potatogpt.tensor import Embed, HeadDim, Qkv, Seq, Tensor, concat_columns, from_columns, from_rows

from .students import Student


def mha_backward_head_by_head(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], attn: Attention, grad: Attention,
                              n_head: int) -> Tensor[Seq, Embed]:
    """Each head's dq, dk, dv put side by side as soon as they are known."""
    head_dim = HeadDim(x.n_cols // n_head)
    q, k, v = model.linear(x, attn.c_attn).split_columns(3, x.n_cols)
    q_heads, k_heads, v_heads = (t.split_columns(n_head, head_dim) for t in (q, k, v))
    caches = [backprop.keys_and_values(k_h, v_h) for k_h, v_h in zip(k_heads, v_heads)]
    joined = concat_columns([model.attention(q_h, k_t, values) for q_h, (k_t, values) in zip(q_heads, caches)], x.n_cols)
    d_joined = backprop.linear_backward(dy, joined, attn.c_proj, grad.c_proj)
    parts = []
    for q_h, (k_t, values), d_head in zip(q_heads, caches, d_joined.split_columns(n_head, head_dim)):
        dq_h, dk_t, dv_h = backprop.attention_backward(d_head, q_h, k_t, values)
        parts += [dq_h, from_rows(dk_t.columns, x.n_rows, head_dim), from_columns(dv_h.columns, x.n_rows, head_dim)]
    return backprop.linear_backward(concat_columns(parts, Qkv(3 * x.n_cols)), x, attn.c_attn, grad.c_attn)


def mha_backward_kqv(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], attn: Attention, grad: Attention,
                     n_head: int) -> Tensor[Seq, Embed]:
    """K^T's gradient comes out of attention_backward second, but the keys are put back first."""
    head_dim = HeadDim(x.n_cols // n_head)
    q, k, v = model.linear(x, attn.c_attn).split_columns(3, x.n_cols)
    q_heads, k_heads, v_heads = (t.split_columns(n_head, head_dim) for t in (q, k, v))
    caches = [backprop.keys_and_values(k_h, v_h) for k_h, v_h in zip(k_heads, v_heads)]
    joined = concat_columns([model.attention(q_h, k_t, values) for q_h, (k_t, values) in zip(q_heads, caches)], x.n_cols)
    d_joined = backprop.linear_backward(dy, joined, attn.c_proj, grad.c_proj)
    dq, dk, dv = [], [], []
    for q_h, (k_t, values), d_head in zip(q_heads, caches, d_joined.split_columns(n_head, head_dim)):
        dq_h, dk_t, dv_h = backprop.attention_backward(d_head, q_h, k_t, values)
        dq.append(dq_h)
        dk.append(from_rows(dk_t.columns, x.n_rows, head_dim))
        dv.append(from_columns(dv_h.columns, x.n_rows, head_dim))
    d_qkv = concat_columns(dk + dq + dv, Qkv(3 * x.n_cols))
    return backprop.linear_backward(d_qkv, x, attn.c_attn, grad.c_attn)


def mha_backward_no_c_proj(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], attn: Attention, grad: Attention,
                           n_head: int) -> Tensor[Seq, Embed]:
    """Straight into the heads: dy cut into heads, c_proj forgotten on the way down."""
    head_dim = HeadDim(x.n_cols // n_head)
    q, k, v = model.linear(x, attn.c_attn).split_columns(3, x.n_cols)
    q_heads, k_heads, v_heads = (t.split_columns(n_head, head_dim) for t in (q, k, v))
    dq, dk, dv = [], [], []
    for q_h, k_h, v_h, d_head in zip(q_heads, k_heads, v_heads, dy.split_columns(n_head, head_dim)):
        k_t, values = backprop.keys_and_values(k_h, v_h)
        dq_h, dk_t, dv_h = backprop.attention_backward(d_head, q_h, k_t, values)
        dq.append(dq_h)
        dk.append(from_rows(dk_t.columns, x.n_rows, head_dim))
        dv.append(from_columns(dv_h.columns, x.n_rows, head_dim))
    return backprop.linear_backward(concat_columns(dq + dk + dv, Qkv(3 * x.n_cols)), x, attn.c_attn, grad.c_attn)


def mha_backward_dk_like_dv(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], attn: Attention, grad: Attention,
                            n_head: int) -> Tensor[Seq, Embed]:
    """Both of attention_backward's Weights turned into Tensors the same way."""
    head_dim = HeadDim(x.n_cols // n_head)
    q, k, v = model.linear(x, attn.c_attn).split_columns(3, x.n_cols)
    q_heads, k_heads, v_heads = (t.split_columns(n_head, head_dim) for t in (q, k, v))
    caches = [backprop.keys_and_values(k_h, v_h) for k_h, v_h in zip(k_heads, v_heads)]
    joined = concat_columns([model.attention(q_h, k_t, values) for q_h, (k_t, values) in zip(q_heads, caches)], x.n_cols)
    d_joined = backprop.linear_backward(dy, joined, attn.c_proj, grad.c_proj)
    dq, dk, dv = [], [], []
    for q_h, (k_t, values), d_head in zip(q_heads, caches, d_joined.split_columns(n_head, head_dim)):
        dq_h, dk_t, dv_h = backprop.attention_backward(d_head, q_h, k_t, values)
        dq.append(dq_h)
        dk.append(from_columns(dk_t.columns, x.n_rows, head_dim))
        dv.append(from_columns(dv_h.columns, x.n_rows, head_dim))
    return backprop.linear_backward(concat_columns(dq + dk + dv, Qkv(3 * x.n_cols)), x, attn.c_attn, grad.c_attn)


def mha_backward_fresh_buffers(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], attn: Attention, grad: Attention,
                               n_head: int) -> Tensor[Seq, Embed]:
    """Gradients collected in buffers of its own, "to start from zero", then copied into grad."""
    mine = Attention(c_attn=backward.zero_linear(attn.c_attn), c_proj=backward.zero_linear(attn.c_proj))
    dx = backprop.mha_backward(dy, x, attn, mine, n_head)
    for layer, new in ((grad.c_attn, mine.c_attn), (grad.c_proj, mine.c_proj)):
        for column, values in zip(layer.weight.columns, new.weight.columns):
            column[:] = values
        layer.bias.rows[0][:] = new.bias.rows[0]
    return dx


def mha_backward_whole_gradient(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], attn: Attention, grad: Attention,
                                n_head: int) -> Tensor[Seq, Embed]:
    """Every head handed the whole of d_joined: "each head's output went into c_proj"."""
    head_dim = HeadDim(x.n_cols // n_head)
    q, k, v = model.linear(x, attn.c_attn).split_columns(3, x.n_cols)
    q_heads, k_heads, v_heads = (t.split_columns(n_head, head_dim) for t in (q, k, v))
    caches = [backprop.keys_and_values(k_h, v_h) for k_h, v_h in zip(k_heads, v_heads)]
    joined = concat_columns([model.attention(q_h, k_t, values) for q_h, (k_t, values) in zip(q_heads, caches)], x.n_cols)
    d_joined = backprop.linear_backward(dy, joined, attn.c_proj, grad.c_proj)
    dq, dk, dv = [], [], []
    for q_h, (k_t, values) in zip(q_heads, caches):
        dq_h, dk_t, dv_h = backprop.attention_backward(d_joined, q_h, k_t, values)  # type: ignore[arg-type]  # (wrong on purpose)
        dq.append(dq_h)
        dk.append(from_rows(dk_t.columns, x.n_rows, head_dim))
        dv.append(from_columns(dv_h.columns, x.n_rows, head_dim))
    return backprop.linear_backward(concat_columns(dq + dk + dv, Qkv(3 * x.n_cols)), x, attn.c_attn, grad.c_attn)


STUDENTS = [
    Student(18, "mha_backward", mha_backward_head_by_head, "failed", "d_qkv was put together head by head"),
    Student(18, "mha_backward", mha_backward_kqv, "failed", "in the order dk | dq | dv"),
    Student(18, "mha_backward", mha_backward_no_c_proj, "failed", "the heads were handed dy itself"),
    Student(18, "mha_backward", mha_backward_dk_like_dv, "failed", "a head's dk was read from dk_t's rows"),
    Student(18, "mha_backward", mha_backward_fresh_buffers, "failed", "grad.c_attn.weight was overwritten"),
    Student(18, "mha_backward", mha_backward_whole_gradient, "crashed", "a head's gradient is its own head_dim columns"),
]
