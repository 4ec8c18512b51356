from __future__ import annotations

import math

from exercises import backprop
from potatogpt import model
from potatogpt.model import MLP
from potatogpt.tensor import Embed, Hidden, Seq, Tensor


def gelu_backward(dy: Tensor[Seq, Hidden], x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    c = math.sqrt(2.0 / math.pi)

    def slope(v: float) -> float:
        t = math.tanh(c * (v + 0.044715 * v**3))
        return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * v**2)

    return dy.hadamard(x.map(slope))


def ffn_backward(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], mlp: MLP, grad: MLP) -> Tensor[Seq, Embed]:
    pre = model.linear(x, mlp.c_fc)
    act = model.gelu(pre)
    d_act = backprop.linear_backward(dy, act, mlp.c_proj, grad.c_proj)
    d_pre = backprop.gelu_backward(d_act, pre)
    return backprop.linear_backward(d_pre, x, mlp.c_fc, grad.c_fc)
