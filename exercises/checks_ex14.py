"""Exercise 14's check: product_backward and linear_backward on two real layers of tiny-prefixed,
block 0's MLP input through c_fc (32 -> 128 channels) and the attention's c_proj (32 -> 32, square,
where a transpose on the wrong side still has the right shape and only the values tell)."""

from __future__ import annotations

from typing import TypeVar

from potatogpt import backward, model
from potatogpt.model import Linear
from potatogpt.tensor import Seq, Tensor, Weight, transpose

from . import backprop
from .backward_checks import (added, buffer_cases, check_all, copied, finite_difference, prefilled, returned, rows_of,
                              summed_against, tiny, upstream)
from .grader import Case, Lab, Rows, Solution
from .inputs import stream

I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)


TRANSPOSED = "dW is transposed: dW = x^T @ dy (W's shape, n_in x n_out); dy^T @ x is its transpose"


def bias_variants(dy: Tensor[Seq, O], before: Rows) -> dict[str, Rows]:
    rows = dy.rows
    n = len(rows)
    summed = [sum(column) for column in zip(*rows)]
    return {
        "db is the mean of dy's rows: it is their sum (b was added to every row, and each row's loss counts in full)":
            added([[v / n for v in summed]], before),
        "db is dy's first row only: add up every row (each token used b)": added([list(rows[0])], before),
        "db is dy's last row only: add up every row (each token used b)": added([list(rows[-1])], before),
    }


def weight_variants(dy: Tensor[Seq, O], x: Tensor[Seq, I], before: Rows) -> dict[str, Rows]:
    dw = (x.T @ dy).rows  # (W's rows)
    n = x.n_rows
    found = {"dW is the mean over the rows: it is the sum x^T @ dy (every token's part counts in full)":
             added([[v / n for v in row] for row in dw], before)}
    if x.n_cols == dy.n_cols:
        found[TRANSPOSED + ", which only a square W lets through"] = added(transpose(dw, dy.n_cols), before)
    return found


def dx_variants(dy: Tensor[Seq, O], w: Weight[I, O]) -> dict[str, object]:
    found: dict[str, object] = {}
    if w.n_in == w.n_out:
        found["dx used W where W^T belongs: dx = dy @ W^T (dy has O columns, W^T takes O)"] = (
            dy @ Weight(w.n_out, w.n_in, columns=w.columns))  # type: ignore[arg-type]  # (square: O is I)
    return found


def check(s: Solution, lab: Lab) -> None:
    gpt = tiny(lab)
    block, eps = gpt.params.h[0], gpt.config.layer_norm_epsilon
    x = model.layer_norm(stream(gpt), block.ln_2, eps)  # (block 0's MLP input)
    for seed, product in enumerate((True, False)):
        check_layer(s, "block 0's mlp.c_fc", x, block.mlp.c_fc, product, seed)
        check_layer(s, "block 0's attn.c_proj", x, block.attn.c_proj, product, seed)  # (square: any 32 channels do)


def check_layer(s: Solution, name: str, x: Tensor[Seq, I], layer: Linear[I, O], product: bool, seed: int) -> None:
    dy = upstream(x.n_rows, layer.weight.n_out, seed)
    w = layer.weight
    if product:
        want_dx, want_dw = backward.product_backward(dy, x, w)
        got = returned(f"product_backward(dy, x, W of {name})", s.call("product_backward", dy, x, w), 2)
        f = summed_against(dy, lambda: x @ w)
        check_all([
            Case(f"product_backward(dy, x, W of {name}): dx", want_dx, lambda: got[0], lambda: dx_variants(dy, w),
                 numeric=finite_difference("x", x, f, "the sum of dy times x @ W")),
            Case(f"product_backward(dy, x, W of {name}): dW", want_dw, lambda: got[1],
                 lambda: weight_variants(dy, x, [[0.0] * w.n_out for _ in range(w.n_in)]),
                 shapes={(w.n_out, w.n_in): TRANSPOSED}, numeric=finite_difference("W", w, f, "the sum of dy times x @ W")),
        ])
        return
    before = prefilled(backward.zero_linear(layer))
    want_grad, grad = copied(before), copied(before)
    want_dx = backprop.linear_backward(dy, x, layer, want_grad)
    what = f"linear_backward(dy, x, {name}, grad)"
    got_dx = s.call("linear_backward", dy, x, layer, grad, changes=(3,))
    f = summed_against(dy, lambda: model.linear(x, layer))
    check_all([Case(f"{what}: dx", want_dx, lambda: got_dx, lambda: dx_variants(dy, w),
                    numeric=finite_difference("x", x, f, "the sum of dy times linear(x)"))])

    def wrong(part: str) -> dict[str, Rows]:
        if part == "grad.bias":
            return bias_variants(dy, rows_of(before.bias))
        return weight_variants(dy, x, rows_of(before.weight))

    check_all(buffer_cases(what, grad, want_grad, before, {
        "grad.weight": finite_difference("W", w, f, "the sum of dy times linear(x)"),
        "grad.bias": finite_difference("b", layer.bias, f, "the sum of dy times linear(x)"),
    }, wrong))
