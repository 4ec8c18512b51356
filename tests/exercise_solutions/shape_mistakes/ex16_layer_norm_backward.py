from __future__ import annotations

from typing import TypeVar

from potatogpt.backward import accumulate
from potatogpt.model import LayerNorm
from potatogpt.tensor import Embed, Tensor

R = TypeVar("R", bound=int)


def layer_norm_backward(dy: Tensor[R, Embed], x: Tensor[R, Embed], ln: LayerNorm, eps: float,
                        grad: LayerNorm) -> Tensor[R, Embed]:
    accumulate(grad.bias, dy)  # mypy: misc
    return dy
