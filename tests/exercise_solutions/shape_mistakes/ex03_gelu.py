import math

from potatogpt.tensor import Hidden, Seq, Tensor


def gelu(x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    c = math.sqrt(2.0 / math.pi)
    return x * x.map(lambda v: 0.5 * (1.0 + math.tanh(c * (v + 0.044715 * v**3))))  # mypy: operator
