from __future__ import annotations

from exercises import backprop
from potatogpt.model import MLP
from potatogpt.tensor import Embed, Seq, Tensor


def ffn_backward(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], mlp: MLP, grad: MLP) -> Tensor[Seq, Embed]:
    d_pre = backprop.linear_backward(dy, x, mlp.c_fc, grad.c_fc)  # mypy: misc
    return d_pre
