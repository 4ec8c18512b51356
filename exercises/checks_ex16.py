"""Exercise 16's check: layer_norm_backward on real rows of tiny-prefixed's residual stream: block
0's input through ln_1 (7 rows), three rows through ln_2 with the first all equal (var = 0, so
std = sqrt(eps) and eps matters), and the last block's output through ln_f with its real gain,
each with a LayerNorm gradient buffer already holding numbers."""

from __future__ import annotations

import math
from typing import TypeVar

from potatogpt import backward, model
from potatogpt.model import LayerNorm, new_kv_cache
from potatogpt.tensor import Embed, Seq, Tensor, from_rows

from . import backprop
from .backward_checks import (added, buffer_cases, check_all, copied, finite_difference, prefilled, rows_of,
                              summed_against, tiny, upstream)
from .grader import Case, Lab, Rows, Solution
from .inputs import IDS, stream

R = TypeVar("R", bound=int)

FORMULA = "dx_i = (dxhat_i - mean(dxhat) - xhat_i * mean(dxhat * xhat)) / std"


def check(s: Solution, lab: Lab) -> None:
    gpt = tiny(lab)
    block, eps = gpt.params.h[0], gpt.config.layer_norm_epsilon
    x = stream(gpt)
    constant = from_rows([[0.25] * x.n_cols, *x.rows[:2]], Seq(3), x.n_cols)
    final = model.hidden_states(IDS, gpt.params, new_kv_cache(gpt.config), gpt.config)
    check_rows(s, "7 rows of block 0's input, ln_1", x, block.ln_1, eps, 1)
    check_rows(s, "3 rows, the first all equal (var = 0), ln_2", constant, block.ln_2, eps, 2)
    check_rows(s, "7 rows of the last block's output, ln_f", final, gpt.params.ln_f, eps, 3)


def check_rows(s: Solution, name: str, x: Tensor[R, Embed], ln: LayerNorm, eps: float, seed: int) -> None:
    dy = upstream(x.n_rows, x.n_cols, 160 + seed)
    before = prefilled(backward.zero_layer_norm(ln), seed)
    want_grad, grad = copied(before), copied(before)
    want_dx = backprop.layer_norm_backward(dy, x, ln, eps, want_grad)
    what = f"layer_norm_backward(dy, {name}, eps, grad)"
    got_dx = s.call("layer_norm_backward", dy, x, ln, eps, grad, changes=(4,))
    f = summed_against(dy, lambda: model.layer_norm(x, ln, eps))
    said = "the sum of dy times layer_norm(x)"
    check_all([Case(f"{what}: dx", want_dx, lambda: got_dx, lambda: dx_variants(dy, x, ln, eps),
                    {(1, x.n_cols): "one row: dx has a row for every row of x (only dg and db add the rows up)"}
                    if x.n_rows > 1 else None, numeric=finite_difference("x", x, f, said))])

    def wrong(part: str) -> dict[str, Rows]:
        return parameter_variants(dy, x, eps, rows_of(before.weight if part == "grad.weight" else before.bias), part)

    check_all(buffer_cases(what, grad, want_grad, before, {
        "grad.weight": finite_difference("g", ln.weight, f, said),
        "grad.bias": finite_difference("b", ln.bias, f, said),
    }, wrong))


def normalised(row: list[float], eps: float) -> tuple[list[float], float, float]:
    """xhat, std and var of one row."""
    n = len(row)
    mean = sum(row) / n
    var = sum((v - mean) ** 2 for v in row) / n
    std = math.sqrt(var + eps)
    return [(v - mean) / std for v in row], std, var


def dx_rows(dy: Tensor[R, Embed], x: Tensor[R, Embed], g: list[float], eps: float, *, mean_term: bool = True,
            xhat_term: bool = True, gain: bool = True, means_of_dy: bool = False, with_eps: bool = True,
            divisor: str = "std", constant_rows_zero: bool = False) -> Rows | None:
    """dx row by row, with the classic mistakes as options (None where a mistake divides by 0)."""
    out = []
    try:
        for row, d in zip(x.rows, dy.rows):
            n = len(row)
            if constant_rows_zero and max(row) == min(row):
                out.append([0.0] * n)
                continue
            xhat, std, var = normalised(row, eps if with_eps else 0.0)
            dxhat = [a * b for a, b in zip(d, g)] if gain else list(d)
            averaged = list(d) if means_of_dy else dxhat
            mean_d = sum(averaged) / n if mean_term else 0.0
            mean_dh = sum(a * h for a, h in zip(averaged, xhat)) / n if xhat_term else 0.0
            by = {"std": std, "var": var + eps, "nothing": 1.0}[divisor]
            out.append([(a - mean_d - h * mean_dh) / by for a, h in zip(dxhat, xhat)])
    except ZeroDivisionError:
        return None
    return out


def dx_variants(dy: Tensor[R, Embed], x: Tensor[R, Embed], ln: LayerNorm, eps: float) -> dict[str, Rows | None]:
    g = ln.weight.row(0)
    return {
        "both mean terms are missing (dx = dxhat / std): the mean and the variance depend on every x of the row, "
        f"so {FORMULA}": dx_rows(dy, x, g, eps, mean_term=False, xhat_term=False),
        "the xhat_i * mean(dxhat * xhat) term is missing: std depends on every x of the row too (d std / d x_i = "
        f"xhat_i / n); {FORMULA}": dx_rows(dy, x, g, eps, xhat_term=False),
        "the mean(dxhat) term is missing: the mean depends on every x of the row (d mean / d x_i = 1 / n); "
        f"{FORMULA}": dx_rows(dy, x, g, eps, mean_term=False),
        "the gain is missing: y = g * xhat + b, so dxhat = dy * g, and the means are of dxhat":
            dx_rows(dy, x, g, eps, gain=False),
        "the means were taken of dy: take them of dxhat = dy * g, what flows into xhat":
            dx_rows(dy, x, g, eps, means_of_dy=True),
        "eps is missing from std: std = sqrt(var + eps), the same std as the forward pass's":
            dx_rows(dy, x, g, eps, with_eps=False),
        "divided by the variance: divide by std = sqrt(var + eps)": dx_rows(dy, x, g, eps, divisor="var"),
        f"the division by std is missing: {FORMULA}": dx_rows(dy, x, g, eps, divisor="nothing"),
        **({"dx of the row whose values are all equal was set to 0: its var is 0, but std = sqrt(0 + eps) is not, "
            f"and the formula holds there too, {FORMULA}": dx_rows(dy, x, g, eps, constant_rows_zero=True)}
           if any(max(row) == min(row) for row in x.rows) else {}),
    }


def parameter_variants(dy: Tensor[R, Embed], x: Tensor[R, Embed], eps: float, before: Rows, part: str) -> dict[str, Rows]:
    xhats = [normalised(row, eps)[0] for row in x.rows]
    n = x.n_rows
    summed_dy = [sum(column) for column in zip(*dy.rows)]
    summed_dy_xhat = [sum(column) for column in zip(*([a * h for a, h in zip(d, xhat)] for d, xhat in zip(dy.rows, xhats)))]
    summed_dy_x = [sum(column) for column in zip(*([a * v for a, v in zip(d, row)] for d, row in zip(dy.rows, x.rows)))]
    if part == "grad.weight":
        return {
            "dg is the sum of dy alone: y_j = g_j * xhat_j + b_j, so dg_j = the sum over the rows of dy_j * xhat_j":
                added([summed_dy], before),
            "dg used x where xhat belongs: dg_j = the sum over the rows of dy_j * xhat_j, xhat = (x - mean) / std":
                added([summed_dy_x], before),
            "dg is the mean over the rows: it is the sum of dy * xhat (every token's part counts in full)":
                added([[v / n for v in summed_dy_xhat]], before),
        }
    return {
        "db is the mean over the rows: it is the sum of dy's rows (every token's part counts in full)":
            added([[v / n for v in summed_dy]], before),
        "db is the sum of dy * xhat, which is dg's: b is added as it is, so db_j = the sum over the rows of dy_j":
            added([summed_dy_xhat], before),
        "db is dy's first row only: add up every row (each token used b)": added([list(dy.rows[0])], before),
    }
