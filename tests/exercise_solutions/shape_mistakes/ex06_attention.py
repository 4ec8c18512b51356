from potatogpt.model import attention_weights
from potatogpt.tensor import Ctx, HeadDim, Seq, Tensor, Weight


def attention(q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx], v: Weight[Ctx, HeadDim]) -> Tensor[Seq, HeadDim]:
    weights = attention_weights(q, k_t)
    return weights @ k_t  # mypy: operator
