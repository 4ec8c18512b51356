"""Exercise 6: causal single-head attention.                               (about 40 minutes)

What it does
    Each token (a query) scores every position it may see (the keys), turns the scores into
    weights that sum to 1, and takes that weighted average of the positions' values.  "Causal":
    a token sees itself and the positions before it, never after.

The formula
    scores  = q @ K^T * (1 / sqrt(head_dim))        scaled, so the softmax does not saturate
    weights = softmax of each ROW of scores, with the future masked out
    out     = weights @ V

The mask, with a KV cache
    K^T and V cover every position so far; q holds only the newest q.n_rows of them.  So query
    row i sits at position past + i, where past = k_t.n_out - q.n_rows, and may see columns
    0 .. past + i (inclusive): past + i + 1 columns.  The rest get weight 0 (as if their score
    were minus infinity).  Without a cache past is 0 and row i sees columns 0 .. i.

The softmax, for the visible part v of one row
    p_j = exp(v_j - max(v)) / sum_k exp(v_k - max(v))   (subtracting the max avoids overflow)

The shapes
    q: Tensor[Seq, HeadDim] (one row per new token)
    k_t: Weight[HeadDim, Ctx] (K^T: column j is position j's key), so q @ k_t: Tensor[Seq, Ctx]
    v: Weight[Ctx, HeadDim] (row j is position j's value), so weights @ v: Tensor[Seq, HeadDim]
    `scores.rows` are lists of floats; `from_rows(rows, q.n_rows, k_t.n_out)` makes the
    weights a Tensor[Seq, Ctx] again.  Write the mask and the softmax yourself:
    Tensor.softmax_rows(causal_offset=...) would do both, and is what potatogpt uses.

In potatogpt
    potatogpt/model.py, `attention_weights` and `attention`.

Stage 1, shapes: `python -m mypy exercises/ex06_attention.py`.  Multiply the weights by the keys
instead of the values and the shapes give you away:

        return weights @ k_t

    exercises/ex06_attention.py:<line>: error: Unsupported operand types for @ ("Tensor[Seq, Ctx]" and "Weight[HeadDim, Ctx]")  [operator]

(Swapping q with a key, or the roles of the two tensors of the same brand, is a mistake mypy
cannot see: stage 2 will.)

Stage 2, values: `python -m exercises check 6` (each value must match potatogpt's to
1e-6 plus 1e-6 of its size; rounding differs by less than 1e-12, so anything the grader reports
is a real difference.  Build new lists for your results: never write into a tensor's rows or an
argument's lists, which the grader reports as a verdict of its own).
"""

from __future__ import annotations

import math

from potatogpt.tensor import Ctx, HeadDim, Seq, Tensor, Weight, from_rows


def attention_weights(q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx]) -> Tensor[Seq, Ctx]:
    """softmax(q K^T / sqrt(head_dim)), row by row, each row seeing only its past."""
    raise NotImplementedError("exercise 6: write attention_weights")


def attention(q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx], v: Weight[Ctx, HeadDim]) -> Tensor[Seq, HeadDim]:
    """The attention weights times the values."""
    raise NotImplementedError("exercise 6: write attention")
