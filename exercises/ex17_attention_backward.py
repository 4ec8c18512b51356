"""Exercise 17: softmax and attention, backward.                           (about 40 minutes)

What it does
    One head's attention is out = p @ V with p = softmax(q @ K^T / sqrt(head_dim)), row by row,
    under the causal mask.  Going back, dy = d loss / d out gives three gradients: for the
    queries q, the keys K^T and the values V.  Three functions, each one step further out:
    the softmax alone, then the attention weights (softmax, scale, product), then the head.

The softmax (one row: p_j = exp(s_j) / sum_k exp(s_k); the chain rule through every p_j)
    d p_j / d s_i = p_j (1 - p_i) if i = j, and -p_j p_i if not: the Jacobian diag(p) - p p^T.
    ds_i = sum_j dp_j (d p_j / d s_i) = p_i dp_i - p_i sum_j dp_j p_j
    so  ds_i = p_i (dp_i - sum_k dp_k p_k)           (one number, dot(dp, p), per row)
    Every s_i moves every p_j (they share the denominator): keeping only the diagonal,
    p_i (1 - p_i) dp_i, forgets that.  A masked position has p_i = 0 (its score was minus
    infinity), so it gets no gradient, and adds nothing to the dot: the mask comes for free.

The attention weights (s = (q @ K^T) * c, c = 1 / sqrt(head_dim); p = softmax of s, masked)
    d(q @ K^T) = ds * c                               the scale, once, the same number as forward
    q @ K^T is a product with K^T in the weight's place (exercise 14):
    dq = d(q @ K^T) @ K,  dK^T = q^T @ d(q @ K^T)    backprop.product_backward(d, q, k_t)

The head (out = p @ V: a product again, V in the weight's place)
    p = model.attention_weights(q, k_t)               recomputed, the causal mask included
    dp = dy @ V^T,  dV = p^T @ dy                     backprop.product_backward(dy, p, v)
    dq, dK^T = attention_weights_backward(dp, q, k_t, p)
    Use the p the forward pass used: a softmax of the scores without the mask gives every
    query gradient from keys it never saw.

The shapes (7 tokens, head_dim 8 in the check)
    q: Tensor[Seq, HeadDim]; K^T: Weight[HeadDim, Ctx] (column j is position j's key); V:
    Weight[Ctx, HeadDim] (row j is position j's value); p, dp, ds: Tensor[Seq, Ctx].  Each
    gradient has exactly its input's shape, and comes back in the order of the inputs:
    (dq, dk_t) and (dq, dk_t, dv).  q^T @ d has K^T's shape and d^T @ q its transpose's.

The tools
    dot(a, b) (potatogpt.tensor) for sum_k dp_k p_k; from_rows(rows, n_rows, n_cols) to build
    the result; t * c scales a tensor by a number; model.attention_weights(q, k_t).

Earlier pieces
    `backprop.product_backward` (exercise 14): potatogpt's while you are graded, yours in `python
    -m exercises train`.  Within this exercise, call your own functions: attention_backward uses
    your attention_weights_backward, which uses your softmax_rows_backward.

In potatogpt
    potatogpt/backward.py, `softmax_rows_backward`, `attention_weights_backward` and
    `attention_backward` (which reads p from the forward pass's recording instead of
    recomputing it: the same numbers).

Stage 1, shapes: `python -m mypy exercises/ex17_attention_backward.py`.  product_backward returns
(dx, dW), here (dq, dK^T); hand them back the other way round and mypy says so:

        return dk_t, dq

    exercises/ex17_attention_backward.py:<line>: error: Incompatible return value type (got "tuple[Weight[HeadDim, Ctx], Tensor[Seq, HeadDim]]", expected "tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx]]")  [return-value]

Stage 2, values: `python -m exercises check 17`, against potatogpt's own gradients on one head of
the tiny checkpoint's block 0 (real queries, keys and values for 7 tokens), and, where yours
differ, against finite differences (f(x + h) - f(x - h)) / 2h, with f = the sum of dy times the
stage's output (for the softmax, dp times the softmax of the scores s, so ds is d f / d s).
Each value must match to 1e-6 plus 1e-6 of its size.  Return new tensors: never write into
the inputs.
"""

from __future__ import annotations

import math
from typing import TypeVar

from exercises import backprop
from potatogpt import model
from potatogpt.tensor import Ctx, HeadDim, Seq, Tensor, Weight, dot, from_rows

R = TypeVar("R", bound=int)
C = TypeVar("C", bound=int)


def softmax_rows_backward(dp: Tensor[R, C], p: Tensor[R, C]) -> Tensor[R, C]:
    """p = softmax(s) along each row: return ds."""
    raise NotImplementedError("exercise 17: write softmax_rows_backward")


def attention_weights_backward(dp: Tensor[Seq, Ctx], q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx],
                               p: Tensor[Seq, Ctx]) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx]]:
    """p = softmax(q @ K^T / sqrt(head_dim)), masked: return (dq, dK^T)."""
    raise NotImplementedError("exercise 17: write attention_weights_backward")


def attention_backward(dy: Tensor[Seq, HeadDim], q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx],
                       v: Weight[Ctx, HeadDim]) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx], Weight[Ctx, HeadDim]]:
    """out = attention_weights(q, K^T) @ V: return (dq, dK^T, dV)."""
    raise NotImplementedError("exercise 17: write attention_backward")
