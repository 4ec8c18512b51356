from potatogpt import model
from potatogpt.model import MLP
from potatogpt.tensor import Embed, Seq, Tensor


def ffn(x: Tensor[Seq, Embed], mlp: MLP) -> Tensor[Seq, Embed]:
    inside = model.gelu(model.linear(x, mlp.c_fc))
    return inside  # mypy: return-value
