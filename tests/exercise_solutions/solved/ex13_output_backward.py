from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from exercises import backprop
from potatogpt import model
from potatogpt.backward import accumulate
from potatogpt.config import GPT2Config
from potatogpt.model import Params
from potatogpt.tensor import Embed, Seq, Tensor, Vocab, weight_from_tensor

R = TypeVar("R", bound=int)


def lm_head_backward(d_logits: Tensor[R, Vocab], x: Tensor[R, Embed], params: Params, grad: Params,
                     config: GPT2Config) -> Tensor[R, Embed]:
    eps = config.layer_norm_epsilon
    normed = model.layer_norm(x, params.ln_f, eps)  # the product's input
    d_normed = d_logits @ params.wte.T.T  # dx = dy @ W^T, with W = wte^T
    accumulate(grad.wte.T, weight_from_tensor(normed.T @ d_logits))  # dW = normed^T @ dy, into the tied table
    return backprop.layer_norm_backward(d_normed, x, params.ln_f, eps, grad.ln_f)


def embed_backward(dx: Tensor[Seq, Embed], ids: Sequence[int], start: int, grad: Params) -> None:
    tokens = grad.wte.T.columns  # (a table's rows are the columns of its .T)
    positions = grad.wpe.T.columns
    for i, d in enumerate(dx.rows):
        token, position = tokens[ids[i]], positions[start + i]
        token[:] = [a + b for a, b in zip(token, d)]
        position[:] = [a + b for a, b in zip(position, d)]
