"""Exercise 16: layer norm, backward.                                       (about 30 minutes)

What it does
    Layer norm (exercise 4) rescales each row to mean 0 and variance 1, then applies the learned
    gain g and bias b.  Its backward returns dx and adds the gradients of g and b into `grad`.
    The gain and bias are easy; dx is the interesting part, because the mean and the variance
    are computed from the whole row: moving one x moves every output of its row.

The forward pass, for one row x of n numbers
    mean = sum(x) / n       var = sum((x_j - mean)^2) / n       std = sqrt(var + eps)
    xhat_j = (x_j - mean) / std                                  y_j = g_j xhat_j + b_j

The gain and the bias (y_j = g_j xhat_j + b_j, and every row used the same g and b)
    db_j = sum over the rows of dy_j               dg_j = sum over the rows of dy_j * xhat_j
    Sums, as in exercise 14: each token's part counts in full.

dx, one row (the chain rule through xhat, then through mean and std)
    First through the gain: dxhat_j = dy_j * g_j.  Then dx_i = sum_j dxhat_j * d xhat_j / d x_i,
    and xhat_j = (x_j - mean) / std depends on x_i three ways: through x_j itself (when j = i),
    through the mean, and through std.
        d (x_j - mean) / d x_i = [j = i] - 1/n              (d mean / d x_i = 1/n)
        d std / d x_i = (1 / (2 std)) * d var / d x_i = (x_i - mean) / (n std) = xhat_i / n
            (d var / d x_i = 2 (x_i - mean) / n: the mean's own part drops out, since the
            x_j - mean add up to 0)
    so, by the quotient rule,
        d xhat_j / d x_i = ([j = i] - 1/n) / std - (x_j - mean) / std^2 * xhat_i / n
                         = ([j = i] - 1/n - xhat_j xhat_i / n) / std
    and summing against dxhat_j gives the formula, with two means over the row:
        dx_i = (dxhat_i - mean(dxhat) - xhat_i * mean(dxhat * xhat)) / std
    The first mean is what the mean takes back (shift every x by the same amount and xhat does
    not change: dx must add up to 0 over the row); the second is what std takes back (stretch
    the row about its mean and xhat hardly changes, only through eps).  Drop them and dx =
    dxhat / std, the derivative as if mean and std were constants: they are not.  std includes
    eps, exactly as in the forward pass (a row whose values are all equal has var = 0, and only
    eps keeps std from 0).

The shapes
    dy, x and dx: Tensor[R, Embed] (R rows, any number); ln.weight (g), ln.bias (b), and grad's
    two: Tensor[One, Embed], one row (read g with ln.weight.row(0)).  Work row by row with lists
    (x.rows, dy.rows) and build the results with from_rows(rows, x.n_rows, x.n_cols).

Adding, never assigning
    `grad` is a LayerNorm buffer that may already hold an earlier row's gradient: add into it,
    accumulate(grad.bias, db) and accumulate(grad.weight, dg), with db and dg Tensor[One, Embed]
    (dy.sum_rows() is dy's rows added up; t.hadamard(u) multiplies entry by entry).

In potatogpt
    potatogpt/backward.py, `layer_norm_backward` (which recomputes mean and std from x, as you
    will: the forward pass keeps nothing but x).

Stage 1, shapes: `python -m mypy exercises/ex16_layer_norm_backward.py`.  Add dy itself to the bias's
gradient, as if for one token:

        accumulate(grad.bias, dy)

    exercises/ex16_layer_norm_backward.py:<line>: error: Cannot infer value of type parameter "R" of "accumulate"  [misc]

It means: no R fits both.  accumulate(into, delta) needs two tensors of the same shape; grad.bias
has one row (One), dy has R.  db is the sum of dy's rows: dy.sum_rows().

Stage 2, values: `python -m exercises check 16`, against potatogpt's own gradients on real rows of
the tiny checkpoint's residual stream (with block 0's ln_1, and the final ln_f on the last block's
output) and on a row whose values are all equal, and, where yours differ, against
(f(x + h) - f(x - h)) / 2h, the derivative's definition, with f = the sum of dy times
layer_norm(x).  (Each value must match to 1e-6 plus 1e-6 of its size.  Return a new tensor;
write only into `grad`.)
"""

from __future__ import annotations

import math
from typing import TypeVar

from potatogpt.backward import accumulate
from potatogpt.model import LayerNorm
from potatogpt.tensor import Embed, Tensor, from_rows

R = TypeVar("R", bound=int)


def layer_norm_backward(dy: Tensor[R, Embed], x: Tensor[R, Embed], ln: LayerNorm, eps: float,
                        grad: LayerNorm) -> Tensor[R, Embed]:
    """y = layer_norm(x, ln, eps): add dg and db into grad, return dx."""
    raise NotImplementedError("exercise 16: write layer_norm_backward")
