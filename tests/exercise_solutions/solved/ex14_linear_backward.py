from __future__ import annotations

from typing import TypeVar

from potatogpt.backward import accumulate
from potatogpt.model import Linear
from potatogpt.tensor import Seq, Tensor, Weight, weight_from_tensor

R = TypeVar("R", bound=int)
I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)


def product_backward(dy: Tensor[R, O], x: Tensor[R, I], w: Weight[I, O]) -> tuple[Tensor[R, I], Weight[I, O]]:
    dx = dy @ w.T
    dw = weight_from_tensor(x.T @ dy)
    return dx, dw


def linear_backward(dy: Tensor[Seq, O], x: Tensor[Seq, I], layer: Linear[I, O], grad: Linear[I, O]) -> Tensor[Seq, I]:
    dx, dw = product_backward(dy, x, layer.weight)
    accumulate(grad.weight, dw)
    accumulate(grad.bias, dy.sum_rows())
    return dx
