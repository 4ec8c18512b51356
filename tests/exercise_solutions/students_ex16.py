"""Exercise 16 (layer norm, backward): wrong solutions as students write them."""

from __future__ import annotations

import math
from typing import TypeVar

from potatogpt.backward import accumulate
from potatogpt.model import LayerNorm
from potatogpt.tensor import ONE, Embed, Tensor, from_rows

from .students import Student

R = TypeVar("R", bound=int)


def statistics(row: list[float], eps: float) -> tuple[list[float], float]:
    """xhat and std of one row, as the forward pass computes them."""
    mean = sum(row) / len(row)
    std = math.sqrt(sum((v - mean) ** 2 for v in row) / len(row) + eps)
    return [(v - mean) / std for v in row], std


def layer_norm_backward_no_means(dy: Tensor[R, Embed], x: Tensor[R, Embed], ln: LayerNorm, eps: float,
                                 grad: LayerNorm) -> Tensor[R, Embed]:
    """y = g * (x - mean) / std + b differentiated as if mean and std were constants."""
    g = ln.weight.row(0)
    xhats, dxs = [], []
    for row, d in zip(x.rows, dy.rows):
        xhat, std = statistics(row, eps)
        xhats.append(xhat)
        dxs.append([a * b / std for a, b in zip(d, g)])
    accumulate(grad.bias, dy.sum_rows())
    accumulate(grad.weight, dy.hadamard(from_rows(xhats, x.n_rows, x.n_cols)).sum_rows())
    return from_rows(dxs, x.n_rows, x.n_cols)


def layer_norm_backward_mean_only(dy: Tensor[R, Embed], x: Tensor[R, Embed], ln: LayerNorm, eps: float,
                                  grad: LayerNorm) -> Tensor[R, Embed]:
    """The mean's dependence on x remembered, std's forgotten."""
    g = ln.weight.row(0)
    n = x.n_cols
    xhats, dxs = [], []
    for row, d in zip(x.rows, dy.rows):
        xhat, std = statistics(row, eps)
        xhats.append(xhat)
        dxhat = [a * b for a, b in zip(d, g)]
        m = sum(dxhat) / n
        dxs.append([(a - m) / std for a in dxhat])
    accumulate(grad.bias, dy.sum_rows())
    accumulate(grad.weight, dy.hadamard(from_rows(xhats, x.n_rows, x.n_cols)).sum_rows())
    return from_rows(dxs, x.n_rows, x.n_cols)


def layer_norm_backward_no_gain(dy: Tensor[R, Embed], x: Tensor[R, Embed], ln: LayerNorm, eps: float,
                                grad: LayerNorm) -> Tensor[R, Embed]:
    """The formula written with dy where dxhat belongs: the gain never comes in."""
    n = x.n_cols
    xhats, dxs = [], []
    for row, d in zip(x.rows, dy.rows):
        xhat, std = statistics(row, eps)
        xhats.append(xhat)
        m1 = sum(d) / n
        m2 = sum(a * h for a, h in zip(d, xhat)) / n
        dxs.append([(a - m1 - h * m2) / std for a, h in zip(d, xhat)])
    accumulate(grad.bias, dy.sum_rows())
    accumulate(grad.weight, dy.hadamard(from_rows(xhats, x.n_rows, x.n_cols)).sum_rows())
    return from_rows(dxs, x.n_rows, x.n_cols)


def layer_norm_backward_no_eps(dy: Tensor[R, Embed], x: Tensor[R, Embed], ln: LayerNorm, eps: float,
                               grad: LayerNorm) -> Tensor[R, Embed]:
    """std = the standard deviation, "eps is only there to avoid dividing by zero"."""
    g = ln.weight.row(0)
    n = x.n_cols
    xhats, dxs = [], []
    for row, d in zip(x.rows, dy.rows):
        mean = sum(row) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in row) / n)
        xhat = [(v - mean) / std for v in row]
        xhats.append(xhat)
        dxhat = [a * b for a, b in zip(d, g)]
        m1 = sum(dxhat) / n
        m2 = sum(a * h for a, h in zip(dxhat, xhat)) / n
        dxs.append([(a - m1 - h * m2) / std for a, h in zip(dxhat, xhat)])
    accumulate(grad.bias, dy.sum_rows())
    accumulate(grad.weight, dy.hadamard(from_rows(xhats, x.n_rows, x.n_cols)).sum_rows())
    return from_rows(dxs, x.n_rows, x.n_cols)


def layer_norm_backward_over_variance(dy: Tensor[R, Embed], x: Tensor[R, Embed], ln: LayerNorm, eps: float,
                                      grad: LayerNorm) -> Tensor[R, Embed]:
    """The final division by var + eps, the number the forward pass had under its square root."""
    g = ln.weight.row(0)
    n = x.n_cols
    xhats, dxs = [], []
    for row, d in zip(x.rows, dy.rows):
        mean = sum(row) / n
        var = sum((v - mean) ** 2 for v in row) / n
        xhat = [(v - mean) / math.sqrt(var + eps) for v in row]
        xhats.append(xhat)
        dxhat = [a * b for a, b in zip(d, g)]
        m1 = sum(dxhat) / n
        m2 = sum(a * h for a, h in zip(dxhat, xhat)) / n
        dxs.append([(a - m1 - h * m2) / (var + eps) for a, h in zip(dxhat, xhat)])
    accumulate(grad.bias, dy.sum_rows())
    accumulate(grad.weight, dy.hadamard(from_rows(xhats, x.n_rows, x.n_cols)).sum_rows())
    return from_rows(dxs, x.n_rows, x.n_cols)


def right_dx(dy: Tensor[R, Embed], x: Tensor[R, Embed], ln: LayerNorm, eps: float) -> tuple[list[list[float]], list[list[float]]]:
    """dx's rows (right) and xhat's rows, for the students whose mistake is in dg or db."""
    g = ln.weight.row(0)
    n = x.n_cols
    xhats, dxs = [], []
    for row, d in zip(x.rows, dy.rows):
        xhat, std = statistics(row, eps)
        xhats.append(xhat)
        dxhat = [a * b for a, b in zip(d, g)]
        m1 = sum(dxhat) / n
        m2 = sum(a * h for a, h in zip(dxhat, xhat)) / n
        dxs.append([(a - m1 - h * m2) / std for a, h in zip(dxhat, xhat)])
    return dxs, xhats


def layer_norm_backward_dg_without_xhat(dy: Tensor[R, Embed], x: Tensor[R, Embed], ln: LayerNorm, eps: float,
                                        grad: LayerNorm) -> Tensor[R, Embed]:
    """dg and db both written as "the sum of dy", copied from the bias to the gain."""
    dxs, _xhats = right_dx(dy, x, ln, eps)
    accumulate(grad.bias, dy.sum_rows())
    accumulate(grad.weight, dy.sum_rows())
    return from_rows(dxs, x.n_rows, x.n_cols)


def layer_norm_backward_averaged(dy: Tensor[R, Embed], x: Tensor[R, Embed], ln: LayerNorm, eps: float,
                                 grad: LayerNorm) -> Tensor[R, Embed]:
    """The gain's and bias's gradients averaged over the tokens, as layer norm averages over channels."""
    dxs, xhats = right_dx(dy, x, ln, eps)
    n = x.n_rows
    db = [sum(column) / n for column in zip(*dy.rows)]
    dg = [sum(d[j] * h[j] for d, h in zip(dy.rows, xhats)) / n for j in range(x.n_cols)]
    accumulate(grad.bias, from_rows([db], ONE, x.n_cols))
    accumulate(grad.weight, from_rows([dg], ONE, x.n_cols))
    return from_rows(dxs, x.n_rows, x.n_cols)


def layer_norm_backward_overwrites(dy: Tensor[R, Embed], x: Tensor[R, Embed], ln: LayerNorm, eps: float,
                                   grad: LayerNorm) -> Tensor[R, Embed]:
    """The two gradients put into the buffer's lists, replacing what was there."""
    dxs, xhats = right_dx(dy, x, ln, eps)
    grad.bias.rows[0][:] = [sum(column) for column in zip(*dy.rows)]
    grad.weight.rows[0][:] = [sum(d[j] * h[j] for d, h in zip(dy.rows, xhats)) for j in range(x.n_cols)]
    return from_rows(dxs, x.n_rows, x.n_cols)


def layer_norm_backward_constant_row_zero(dy: Tensor[R, Embed], x: Tensor[R, Embed], ln: LayerNorm, eps: float,
                                          grad: LayerNorm) -> Tensor[R, Embed]:
    """"A row of equal values normalises to 0 whatever it is, so nothing flows back": var = 0 special-cased."""
    dxs, xhats = right_dx(dy, x, ln, eps)
    for i, row in enumerate(x.rows):
        if max(row) == min(row):
            dxs[i] = [0.0] * x.n_cols
    accumulate(grad.bias, dy.sum_rows())
    accumulate(grad.weight, dy.hadamard(from_rows(xhats, x.n_rows, x.n_cols)).sum_rows())
    return from_rows(dxs, x.n_rows, x.n_cols)


STUDENTS = [
    Student(16, "layer_norm_backward", layer_norm_backward_no_means, "failed", "both mean terms are missing"),
    Student(16, "layer_norm_backward", layer_norm_backward_mean_only, "failed", "the xhat_i * mean(dxhat * xhat) term is missing"),
    Student(16, "layer_norm_backward", layer_norm_backward_no_gain, "failed", "the gain is missing"),
    Student(16, "layer_norm_backward", layer_norm_backward_no_eps, "failed", "eps is missing from std"),
    Student(16, "layer_norm_backward", layer_norm_backward_over_variance, "failed", "divided by the variance"),
    Student(16, "layer_norm_backward", layer_norm_backward_dg_without_xhat, "failed", "dg is the sum of dy alone"),
    Student(16, "layer_norm_backward", layer_norm_backward_averaged, "failed", "dg is the mean over the rows"),
    Student(16, "layer_norm_backward", layer_norm_backward_overwrites, "failed", "grad.weight was overwritten"),
    Student(16, "layer_norm_backward", layer_norm_backward_constant_row_zero, "failed", "was set to 0: its var is 0"),
]

