from __future__ import annotations

import math

from potatogpt.backward import product_backward, softmax_rows_backward
from potatogpt.tensor import Ctx, HeadDim, Seq, Tensor, Weight


def attention_weights_backward(dp: Tensor[Seq, Ctx], q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx],
                               p: Tensor[Seq, Ctx]) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx]]:
    d_scores = softmax_rows_backward(dp, p) * (1.0 / math.sqrt(q.n_cols))
    dq, dk_t = product_backward(d_scores, q, k_t)
    return dk_t, dq  # mypy: return-value
