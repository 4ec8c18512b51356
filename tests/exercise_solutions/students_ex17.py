"""Exercise 17 (softmax and attention, backward): wrong solutions as students write them."""

from __future__ import annotations

import math
from typing import TypeVar

from exercises import backprop
from potatogpt import model
from potatogpt.tensor import Ctx, HeadDim, Seq, Tensor, Weight, dot, from_rows, weight_from_tensor

from .students import Student

R = TypeVar("R", bound=int)
C = TypeVar("C", bound=int)


def softmax_rows_backward_diagonal(dp: Tensor[R, C], p: Tensor[R, C]) -> Tensor[R, C]:
    """d p_i / d s_i = p_i (1 - p_i), remembered from the sigmoid, and the rest of the Jacobian left out."""
    rows = [[p_i * (1.0 - p_i) * dp_i for dp_i, p_i in zip(dp_row, p_row)] for dp_row, p_row in zip(dp.rows, p.rows)]
    return from_rows(rows, p.n_rows, p.n_cols)


def softmax_rows_backward_sum_of_dp(dp: Tensor[R, C], p: Tensor[R, C]) -> Tensor[R, C]:
    """"Minus the sum over k" written as the sum of dp, the p_k inside it lost."""
    rows = []
    for dp_row, p_row in zip(dp.rows, p.rows):
        total = sum(dp_row)
        rows.append([p_i * (dp_i - total) for dp_i, p_i in zip(dp_row, p_row)])
    return from_rows(rows, p.n_rows, p.n_cols)


def softmax_rows_backward_masks_again(dp: Tensor[R, C], p: Tensor[R, C]) -> Tensor[R, C]:
    """"Masked positions get no gradient", done by hand: a causal mask inside every softmax's backward."""
    rows = []
    for i, (dp_row, p_row) in enumerate(zip(dp.rows, p.rows)):
        inner = dot(dp_row, p_row)
        rows.append([p_j * (dp_j - inner) if j <= i else 0.0 for j, (dp_j, p_j) in enumerate(zip(dp_row, p_row))])
    return from_rows(rows, p.n_rows, p.n_cols)


def attention_weights_backward_no_scale(dp: Tensor[Seq, Ctx], q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx],
                                        p: Tensor[Seq, Ctx]) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx]]:
    """Straight from the softmax to the product: the scale is only a constant, isn't it."""
    d_scores = backprop.softmax_rows_backward(dp, p)
    return backprop.product_backward(d_scores, q, k_t)


def attention_weights_backward_scale_twice(dp: Tensor[Seq, Ctx], q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx],
                                           p: Tensor[Seq, Ctx]) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx]]:
    """The scale put on the way into the softmax's backward, and again on the way out."""
    c = 1.0 / math.sqrt(q.n_cols)
    d_scores = backprop.softmax_rows_backward(dp * c, p) * c
    return backprop.product_backward(d_scores, q, k_t)


def attention_weights_backward_swapped(dp: Tensor[Seq, Ctx], q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx],
                                       p: Tensor[Seq, Ctx]) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx]]:
    """The keys first, "as in q @ K^T, K^T's gradient is the weight's, and the weight's comes first"."""
    d_scores = backprop.softmax_rows_backward(dp, p) * (1.0 / math.sqrt(q.n_cols))
    dq, dk_t = backprop.product_backward(d_scores, q, k_t)
    return dk_t, dq  # type: ignore[return-value]  # (wrong on purpose)


def attention_backward_unmasked(dy: Tensor[Seq, HeadDim], q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx],
                                v: Weight[Ctx, HeadDim]) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx], Weight[Ctx, HeadDim]]:
    """p recomputed from the formula softmax(q K^T / sqrt(d)), the mask forgotten."""
    p = ((q @ k_t) * (1.0 / math.sqrt(q.n_cols))).softmax_rows()
    dp, dv = backprop.product_backward(dy, p, v)
    dq, dk_t = backprop.attention_weights_backward(dp, q, k_t, p)
    return dq, dk_t, dv


def attention_backward_dv_untransposed(dy: Tensor[Seq, HeadDim], q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx],
                                       v: Weight[Ctx, HeadDim]) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx], Weight[Ctx, HeadDim]]:
    """dp and dV by hand; p @ dy has V's shape here (7 x 8), so it ran."""
    p = model.attention_weights(q, k_t)
    dp = dy @ v.T
    dv = weight_from_tensor(p @ dy)  # type: ignore[operator]  # (wrong on purpose)
    dq, dk_t = backprop.attention_weights_backward(dp, q, k_t, p)
    return dq, dk_t, dv  # type: ignore[return-value]  # (the same slip, as mypy sees it here)


def attention_backward_dv_transposed(dy: Tensor[Seq, HeadDim], q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx],
                                     v: Weight[Ctx, HeadDim]) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx], Weight[Ctx, HeadDim]]:
    """dV = dy^T @ p, the product taken the other way round."""
    p = model.attention_weights(q, k_t)
    dp = dy @ v.T
    dv = weight_from_tensor(dy.T @ p)
    dq, dk_t = backprop.attention_weights_backward(dp, q, k_t, p)
    return dq, dk_t, dv  # type: ignore[return-value]  # (wrong on purpose)


def attention_backward_dv_tensor(dy: Tensor[Seq, HeadDim], q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx],
                                 v: Weight[Ctx, HeadDim]) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx], Weight[Ctx, HeadDim]]:
    """The right numbers for dV, handed back as the Tensor p^T @ dy."""
    p = model.attention_weights(q, k_t)
    dq, dk_t = backprop.attention_weights_backward(dy @ v.T, q, k_t, p)
    return dq, dk_t, p.T @ dy  # type: ignore[return-value]  # (wrong on purpose)


STUDENTS = [
    Student(17, "softmax_rows_backward", softmax_rows_backward_diagonal, "failed", "only the Jacobian's diagonal"),
    Student(17, "softmax_rows_backward", softmax_rows_backward_sum_of_dp, "failed", "is of dp alone"),
    Student(17, "softmax_rows_backward", softmax_rows_backward_masks_again, "failed", "a causal mask of its own"),
    Student(17, "attention_weights_backward", attention_weights_backward_no_scale, "failed", "was left out of the backward"),
    Student(17, "attention_weights_backward", attention_weights_backward_scale_twice, "failed", "applied twice"),
    Student(17, "attention_weights_backward", attention_weights_backward_swapped, "failed", "dq and dk_t are swapped"),
    Student(17, "attention_backward", attention_backward_unmasked, "failed", "without the causal mask"),
    Student(17, "attention_backward", attention_backward_dv_untransposed, "failed", "dV used p where p^T belongs"),
    Student(17, "attention_backward", attention_backward_dv_transposed, "failed", "dV is transposed"),
    Student(17, "attention_backward", attention_backward_dv_tensor, "failed", "v is a Weight, so dv is one too"),
]
