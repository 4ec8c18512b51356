"""Exercise 6, solved."""

from __future__ import annotations

import math

from potatogpt.tensor import Ctx, HeadDim, Seq, Tensor, Weight, from_rows


def attention_weights(q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx]) -> Tensor[Seq, Ctx]:
    past = k_t.n_out - q.n_rows
    scores = (q @ k_t) * (1.0 / math.sqrt(q.n_cols))
    weights = []
    for i, row in enumerate(scores.rows):
        visible = row[: past + i + 1]
        top = max(visible)
        exps = [math.exp(s - top) for s in visible]
        total = sum(exps)
        weights.append([e / total for e in exps] + [0.0] * (len(row) - len(visible)))
    return from_rows(weights, q.n_rows, k_t.n_out)


def attention(q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx], v: Weight[Ctx, HeadDim]) -> Tensor[Seq, HeadDim]:
    return attention_weights(q, k_t) @ v
