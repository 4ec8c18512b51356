"""Exercise 14 (linear layer, backward): wrong solutions as students write them."""

from __future__ import annotations

from typing import TypeVar

from potatogpt.backward import accumulate
from potatogpt.model import Linear
from potatogpt.tensor import ONE, Seq, Tensor, Weight, from_rows, weight_from_tensor

from .students import Student

R = TypeVar("R", bound=int)
I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)


def linear_backward_bias_mean(dy: Tensor[Seq, O], x: Tensor[Seq, I], layer: Linear[I, O], grad: Linear[I, O]) -> Tensor[Seq, I]:
    """The bias gradient averaged over the tokens, "to keep it the same size"."""
    accumulate(grad.weight, weight_from_tensor(x.T @ dy))
    n = dy.n_rows
    accumulate(grad.bias, from_rows([[sum(column) / n for column in zip(*dy.rows)]], ONE, dy.n_cols))
    return dy @ layer.weight.T


def linear_backward_bias_first_row(dy: Tensor[Seq, O], x: Tensor[Seq, I], layer: Linear[I, O], grad: Linear[I, O]) -> Tensor[Seq, I]:
    """db = dy, written for one token and kept for many: only the first row counts."""
    accumulate(grad.weight, weight_from_tensor(x.T @ dy))
    accumulate(grad.bias, from_rows([dy.rows[0]], ONE, dy.n_cols))
    return dy @ layer.weight.T


def product_backward_transposed(dy: Tensor[R, O], x: Tensor[R, I], w: Weight[I, O]) -> tuple[Tensor[R, I], Weight[I, O]]:
    """dW = dy^T @ x, from the formula dW[j][i] remembered the wrong way round (mypy would say so)."""
    return dy @ w.T, weight_from_tensor(dy.T @ x)  # type: ignore[operator, arg-type]  # (wrong on purpose)


def linear_backward_overwrites(dy: Tensor[Seq, O], x: Tensor[Seq, I], layer: Linear[I, O], grad: Linear[I, O]) -> Tensor[Seq, I]:
    """The gradients copied into the buffer: what an earlier row put there is lost."""
    dw = weight_from_tensor(x.T @ dy)
    for column, new in zip(grad.weight.columns, dw.columns):
        column[:] = new
    grad.bias.rows[0][:] = [sum(column) for column in zip(*dy.rows)]
    return dy @ layer.weight.T


def product_backward_no_transpose(dy: Tensor[R, O], x: Tensor[R, I], w: Weight[I, O]) -> tuple[Tensor[R, I], Weight[I, O]]:
    """dx = dy @ W, the transpose forgotten (the lesson's mypy slip, run anyway)."""
    return dy @ w, weight_from_tensor(x.T @ dy)  # type: ignore[operator]  # (wrong on purpose)


def product_backward_mean(dy: Tensor[R, O], x: Tensor[R, I], w: Weight[I, O]) -> tuple[Tensor[R, I], Weight[I, O]]:
    """dW divided by the number of tokens, as if the layer's gradient were an average."""
    n = x.n_rows
    return dy @ w.T, weight_from_tensor((x.T @ dy) * (1.0 / n))


STUDENTS = [
    Student(14, "linear_backward", linear_backward_bias_mean, "failed", "db is the mean of dy's rows"),
    Student(14, "linear_backward", linear_backward_bias_first_row, "failed", "db is dy's first row only"),
    Student(14, "product_backward", product_backward_transposed, "failed", "dW is transposed"),
    Student(14, "linear_backward", linear_backward_overwrites, "failed", "grad.weight was overwritten"),
    Student(14, "product_backward", product_backward_no_transpose, "crashed", "a @ b needs a's columns to match b's rows"),
    Student(14, "product_backward", product_backward_mean, "failed", "dW is the mean over the rows"),
]
