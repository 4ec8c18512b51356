from potatogpt import model
from potatogpt.config import GPT2Config
from potatogpt.model import Block, LayerCache
from potatogpt.tensor import Embed, Seq, Tensor


def transformer_block(x: Tensor[Seq, Embed], block: Block, cache: LayerCache, config: GPT2Config) -> Tensor[Seq, Embed]:
    eps = config.layer_norm_epsilon
    x = x + model.mha(model.layer_norm(x, block.ln_1, eps), block.attn, cache, config.n_head)
    inside = model.linear(model.layer_norm(x, block.ln_2, eps), block.mlp.c_fc)
    x = x + inside  # mypy: operator
    return x
