"""Exercise 4, solved."""

from __future__ import annotations

import math
from typing import TypeVar

from potatogpt.model import LayerNorm
from potatogpt.tensor import Embed, Tensor, from_rows

R = TypeVar("R", bound=int)


def layer_norm(x: Tensor[R, Embed], ln: LayerNorm, eps: float) -> Tensor[R, Embed]:
    gain, bias = ln.weight.row(0), ln.bias.row(0)
    out = []
    for row in x.rows:
        mean = sum(row) / len(row)
        var = sum((v - mean) ** 2 for v in row) / len(row)
        out.append([(v - mean) / math.sqrt(var + eps) * g + b for v, g, b in zip(row, gain, bias)])
    return from_rows(out, x.n_rows, x.n_cols)
