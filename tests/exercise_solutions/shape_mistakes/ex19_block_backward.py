from __future__ import annotations

from exercises import backprop
from potatogpt import model
from potatogpt.config import GPT2Config
from potatogpt.model import Block
from potatogpt.tensor import Embed, Seq, Tensor


def transformer_block_backward(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], block: Block, grad: Block,
                               config: GPT2Config) -> Tensor[Seq, Embed]:
    eps, n_head = config.layer_norm_epsilon, config.n_head
    h1 = model.layer_norm(x, block.ln_1, eps)
    x1 = x + model.mha(h1, block.attn, backprop.empty_cache(x.n_cols, n_head), n_head)
    h2 = model.layer_norm(x1, block.ln_2, eps)
    d_h2 = backprop.ffn_backward(dy, h2, block.mlp, grad)  # mypy: arg-type
    dx1 = dy + backprop.layer_norm_backward(d_h2, x1, block.ln_2, eps, grad.ln_2)
    d_h1 = backprop.mha_backward(dx1, h1, block.attn, grad.attn, n_head)
    return dx1 + backprop.layer_norm_backward(d_h1, x, block.ln_1, eps, grad.ln_1)
