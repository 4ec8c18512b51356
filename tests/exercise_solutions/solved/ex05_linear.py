"""Exercise 5, solved."""

from __future__ import annotations

from typing import TypeVar

from potatogpt import model
from potatogpt.model import MLP, Linear
from potatogpt.tensor import Embed, Seq, Tensor

I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)


def linear(x: Tensor[Seq, I], layer: Linear[I, O]) -> Tensor[Seq, O]:
    return x @ layer.weight + layer.bias


def ffn(x: Tensor[Seq, Embed], mlp: MLP) -> Tensor[Seq, Embed]:
    return model.linear(model.gelu(model.linear(x, mlp.c_fc)), mlp.c_proj)
