"""Exercise 17, solved."""

from __future__ import annotations

import math
from typing import TypeVar

from exercises import backprop
from potatogpt import model
from potatogpt.tensor import Ctx, HeadDim, Seq, Tensor, Weight, dot, from_rows

R = TypeVar("R", bound=int)
C = TypeVar("C", bound=int)


def softmax_rows_backward(dp: Tensor[R, C], p: Tensor[R, C]) -> Tensor[R, C]:
    rows = []
    for dp_row, p_row in zip(dp.rows, p.rows):
        inner = dot(dp_row, p_row)
        rows.append([p_i * (dp_i - inner) for dp_i, p_i in zip(dp_row, p_row)])
    return from_rows(rows, p.n_rows, p.n_cols)


def attention_weights_backward(dp: Tensor[Seq, Ctx], q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx],
                               p: Tensor[Seq, Ctx]) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx]]:
    d_scores = softmax_rows_backward(dp, p) * (1.0 / math.sqrt(q.n_cols))
    dq, dk_t = backprop.product_backward(d_scores, q, k_t)
    return dq, dk_t


def attention_backward(dy: Tensor[Seq, HeadDim], q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx],
                       v: Weight[Ctx, HeadDim]) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx], Weight[Ctx, HeadDim]]:
    p = model.attention_weights(q, k_t)
    dp, dv = backprop.product_backward(dy, p, v)
    dq, dk_t = attention_weights_backward(dp, q, k_t, p)
    return dq, dk_t, dv
