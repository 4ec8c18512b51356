from __future__ import annotations

from typing import TypeVar

from potatogpt.tensor import Tensor, Weight, weight_from_tensor

R = TypeVar("R", bound=int)
I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)


def product_backward(dy: Tensor[R, O], x: Tensor[R, I], w: Weight[I, O]) -> tuple[Tensor[R, I], Weight[I, O]]:
    return dy @ w, weight_from_tensor(x.T @ dy)  # mypy: operator
