from __future__ import annotations

import math
from typing import TypeVar

from potatogpt.backward import accumulate
from potatogpt.model import LayerNorm
from potatogpt.tensor import Embed, Tensor, from_rows

R = TypeVar("R", bound=int)


def layer_norm_backward(dy: Tensor[R, Embed], x: Tensor[R, Embed], ln: LayerNorm, eps: float,
                        grad: LayerNorm) -> Tensor[R, Embed]:
    g = ln.weight.row(0)
    n = x.n_cols
    xhats, dxs = [], []
    for row, d in zip(x.rows, dy.rows):
        mean = sum(row) / n
        var = sum((v - mean) ** 2 for v in row) / n
        std = math.sqrt(var + eps)
        xhat = [(v - mean) / std for v in row]
        dxhat = [a * b for a, b in zip(d, g)]
        mean_dxhat = sum(dxhat) / n
        mean_dxhat_xhat = sum(a * h for a, h in zip(dxhat, xhat)) / n
        dxs.append([(a - mean_dxhat - h * mean_dxhat_xhat) / std for a, h in zip(dxhat, xhat)])
        xhats.append(xhat)
    accumulate(grad.bias, dy.sum_rows())
    accumulate(grad.weight, dy.hadamard(from_rows(xhats, x.n_rows, x.n_cols)).sum_rows())
    return from_rows(dxs, x.n_rows, x.n_cols)
