"""Exercise 18: multi-head attention, backward.                            (about 30 minutes)

What it does
    mha (exercise 7) is three stages: c_attn makes q, k and v side by side; each head runs
    attention on its own slice of the columns; the heads' outputs, side by side again, go
    through c_proj.  The backward pass runs the same three stages the other way round, and the
    only new work is putting each gradient back in the columns its numbers came from.

The forward pass, recomputed (from position 0: K^T and V hold this row's tokens, no others)
    q, k, v  = model.linear(x, attn.c_attn).split_columns(3, x.n_cols)
    per head h (q.split_columns(n_head, head_dim), the same for k and v):
        k_t, values = backprop.keys_and_values(k_h, v_h)       K^T's column j, V's row j: token j
        head_h = model.attention(q_h, k_t, values)
    joined   = concat_columns(heads, x.n_cols);   out = model.linear(joined, attn.c_proj)

The backward pass (stage by stage; cutting columns and joining them are each other's backward)
    d_joined = backprop.linear_backward(dy, joined, attn.c_proj, grad.c_proj)
    d_joined.split_columns(n_head, head_dim): head h's output was columns h*head_dim ..., so
        its gradient is the same columns of d_joined, and only those
    dq_h, dk_t, dv_h = backprop.attention_backward(d_head_h, q_h, k_t, values)
    and each head's three go back into rows of this pass's tokens, one list per block:
        dq.append(dq_h)
        dk.append(from_rows(dk_t.columns, x.n_rows, head_dim))     k_h's row j was K^T's column j,
                                                                   so its gradient is dk_t's column j
        dv.append(from_columns(dv_h.columns, x.n_rows, head_dim))  v_h's row j was V's row j: dV's
                                                                   rows (a Weight keeps its columns)
    d_qkv = concat_columns(dq + dk + dv, Qkv(3 * x.n_cols))      every q head, then every k, then every v
    return backprop.linear_backward(d_qkv, x, attn.c_attn, grad.c_attn)
    The order of d_qkv's columns is the order qkv was cut in: q | k | v, and within each the
    heads in order.  Any other order is just as many columns, so only the values tell.

The shapes (7 or 8 tokens, 4 heads, head_dim 8, n_embd 32 in the check)
    x, dy, joined, d_joined: Tensor[Seq, Embed]; each head's dq_h, dk_h, dv_h: Tensor[Seq, HeadDim];
    dk_t: Weight[HeadDim, Ctx]; dv_h (from attention_backward): Weight[Ctx, HeadDim]; d_qkv:
    Tensor[Seq, Qkv].  Seq and Ctx are the same count here (this row's tokens), not the same type.

Adding, never assigning
    grad is an Attention of gradient buffers (grad.c_attn, grad.c_proj), already holding other
    rows' gradients.  backprop.linear_backward adds into the Linear you hand it: hand it
    grad.c_proj and grad.c_attn, and write into grad nothing else.

Earlier pieces
    `backprop.linear_backward` (exercise 14), `backprop.attention_backward` (exercise 17),
    `backprop.keys_and_values`, `model.linear`, `model.attention`: potatogpt's while you are
    graded, yours in `python -m exercises train`.

In potatogpt
    potatogpt/backward.py, `mha_backward` (which reads the forward pass's recording instead of
    recomputing it: the same numbers).

Stage 1, shapes: `python -m mypy exercises/ex18_multi_head_backward.py`.  Keep a head's key
gradient as it comes, dk.append(dk_t) (a Weight, whose columns are the keys' gradients), and
mypy objects where the lists meet, since a Weight is not one of the heads' Tensors:

        d_qkv = concat_columns(dq + dk + dv, Qkv(3 * x.n_cols))

    exercises/ex18_multi_head_backward.py:<line>: error: Argument 1 to "concat_columns" has incompatible type "list[Tensor[Seq, HeadDim] | Weight[HeadDim, Ctx]]"; expected "Sequence[Tensor[Seq, HeadDim]]"  [arg-type]

Stage 2, values: `python -m exercises check 18`, against potatogpt's own gradients on the tiny
checkpoint's block 0 (its attention's real input, for 8 tokens and then 7), and, where yours
differ, against finite differences (f(x + h) - f(x - h)) / 2h, with f = the sum of dy times
mha(x).  Each value must match to 1e-6 plus 1e-6 of its size; grad must hold what it held plus
your gradients.
"""

from __future__ import annotations

from exercises import backprop
from potatogpt import model
from potatogpt.model import Attention
from potatogpt.tensor import Embed, HeadDim, Qkv, Seq, Tensor, concat_columns, from_columns, from_rows


def mha_backward(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], attn: Attention, grad: Attention,
                 n_head: int) -> Tensor[Seq, Embed]:
    """out = mha(x): add c_attn's and c_proj's gradients into grad, return dx."""
    raise NotImplementedError("exercise 18: write mha_backward")
