from typing import TypeVar

from potatogpt.model import LayerNorm
from potatogpt.tensor import Embed, Tensor

R = TypeVar("R", bound=int)


def layer_norm(x: Tensor[R, Embed], ln: LayerNorm, eps: float) -> Tensor[R, Embed]:
    out = [[v - sum(row) / len(row) for v in row] for row in x.rows]  # (only centred: the slip is below)
    return out  # mypy: return-value
