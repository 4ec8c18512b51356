"""Exercise 19 (transformer block, backward): wrong solutions as students write them."""

from __future__ import annotations

from exercises import backprop
from potatogpt import model
from potatogpt.config import GPT2Config
from potatogpt.model import Block
from potatogpt.tensor import Embed, Seq, Tensor

from .students import Student


def block_backward_branch_only(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], block: Block, grad: Block,
                               config: GPT2Config) -> Tensor[Seq, Embed]:
    """The MLP's residual forgotten: dx1 is what came back through the MLP and ln_2, and no more."""
    eps, n_head = config.layer_norm_epsilon, config.n_head
    h1 = model.layer_norm(x, block.ln_1, eps)
    x1 = x + model.mha(h1, block.attn, backprop.empty_cache(x.n_cols, n_head), n_head)
    h2 = model.layer_norm(x1, block.ln_2, eps)
    d_h2 = backprop.ffn_backward(dy, h2, block.mlp, grad.mlp)
    dx1 = backprop.layer_norm_backward(d_h2, x1, block.ln_2, eps, grad.ln_2)
    d_h1 = backprop.mha_backward(dx1, h1, block.attn, grad.attn, n_head)
    return dx1 + backprop.layer_norm_backward(d_h1, x, block.ln_1, eps, grad.ln_1)


def block_backward_forward_order(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], block: Block, grad: Block,
                                 config: GPT2Config) -> Tensor[Seq, Embed]:
    """Written top to bottom like the forward pass: attention's branch first, from dy."""
    eps, n_head = config.layer_norm_epsilon, config.n_head
    h1 = model.layer_norm(x, block.ln_1, eps)
    x1 = x + model.mha(h1, block.attn, backprop.empty_cache(x.n_cols, n_head), n_head)
    h2 = model.layer_norm(x1, block.ln_2, eps)
    d = dy + backprop.layer_norm_backward(backprop.mha_backward(dy, h1, block.attn, grad.attn, n_head),
                                          x, block.ln_1, eps, grad.ln_1)
    return d + backprop.layer_norm_backward(backprop.ffn_backward(d, h2, block.mlp, grad.mlp),
                                            x1, block.ln_2, eps, grad.ln_2)


def block_backward_ln_2_of_x(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], block: Block, grad: Block,
                             config: GPT2Config) -> Tensor[Seq, Embed]:
    """Both layer norms' backwards given the block's input, "the x of layer_norm_backward(dy, x, ...)"."""
    eps, n_head = config.layer_norm_epsilon, config.n_head
    h1 = model.layer_norm(x, block.ln_1, eps)
    x1 = x + model.mha(h1, block.attn, backprop.empty_cache(x.n_cols, n_head), n_head)
    h2 = model.layer_norm(x1, block.ln_2, eps)
    dx1 = dy + backprop.layer_norm_backward(backprop.ffn_backward(dy, h2, block.mlp, grad.mlp), x, block.ln_2, eps,
                                            grad.ln_2)
    return dx1 + backprop.layer_norm_backward(backprop.mha_backward(dx1, h1, block.attn, grad.attn, n_head), x,
                                              block.ln_1, eps, grad.ln_1)


def block_backward_ffn_of_x1(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], block: Block, grad: Block,
                             config: GPT2Config) -> Tensor[Seq, Embed]:
    """The MLP's backward handed the stream x1 (its "input" in x1 + ffn(...)), not ln_2(x1)."""
    eps, n_head = config.layer_norm_epsilon, config.n_head
    h1 = model.layer_norm(x, block.ln_1, eps)
    x1 = x + model.mha(h1, block.attn, backprop.empty_cache(x.n_cols, n_head), n_head)
    d_ffn = backprop.ffn_backward(dy, x1, block.mlp, grad.mlp)
    dx1 = dy + backprop.layer_norm_backward(d_ffn, x1, block.ln_2, eps, grad.ln_2)
    d_mha = backprop.mha_backward(dx1, h1, block.attn, grad.attn, n_head)
    return dx1 + backprop.layer_norm_backward(d_mha, x, block.ln_1, eps, grad.ln_1)


def block_backward_norms_swapped(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], block: Block, grad: Block,
                                 config: GPT2Config) -> Tensor[Seq, Embed]:
    """"Undo the first layer norm first": ln_1's backward where ln_2's belongs, and the other way round."""
    eps, n_head = config.layer_norm_epsilon, config.n_head
    h1 = model.layer_norm(x, block.ln_1, eps)
    x1 = x + model.mha(h1, block.attn, backprop.empty_cache(x.n_cols, n_head), n_head)
    h2 = model.layer_norm(x1, block.ln_2, eps)
    d_h2 = backprop.ffn_backward(dy, h2, block.mlp, grad.mlp)
    dx1 = dy + backprop.layer_norm_backward(d_h2, x1, block.ln_1, eps, grad.ln_1)
    d_h1 = backprop.mha_backward(dx1, h1, block.attn, grad.attn, n_head)
    return dx1 + backprop.layer_norm_backward(d_h1, x, block.ln_2, eps, grad.ln_2)


def block_backward_mha_of_x(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], block: Block, grad: Block,
                            config: GPT2Config) -> Tensor[Seq, Embed]:
    """x1 recomputed right, but attention's backward told it read x."""
    eps, n_head = config.layer_norm_epsilon, config.n_head
    x1 = x + model.mha(model.layer_norm(x, block.ln_1, eps), block.attn, backprop.empty_cache(x.n_cols, n_head), n_head)
    h2 = model.layer_norm(x1, block.ln_2, eps)
    dx1 = dy + backprop.layer_norm_backward(backprop.ffn_backward(dy, h2, block.mlp, grad.mlp), x1, block.ln_2, eps,
                                            grad.ln_2)
    d_h1 = backprop.mha_backward(dx1, x, block.attn, grad.attn, n_head)
    return dx1 + backprop.layer_norm_backward(d_h1, x, block.ln_1, eps, grad.ln_1)


def block_backward_whole_grad(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], block: Block, grad: Block,
                              config: GPT2Config) -> Tensor[Seq, Embed]:
    """The lesson's mypy slip, run anyway: all of grad where grad.mlp belongs."""
    eps, n_head = config.layer_norm_epsilon, config.n_head
    h1 = model.layer_norm(x, block.ln_1, eps)
    x1 = x + model.mha(h1, block.attn, backprop.empty_cache(x.n_cols, n_head), n_head)
    h2 = model.layer_norm(x1, block.ln_2, eps)
    d_h2 = backprop.ffn_backward(dy, h2, block.mlp, grad)  # type: ignore[arg-type]  # (wrong on purpose)
    dx1 = dy + backprop.layer_norm_backward(d_h2, x1, block.ln_2, eps, grad.ln_2)
    d_h1 = backprop.mha_backward(dx1, h1, block.attn, grad.attn, n_head)
    return dx1 + backprop.layer_norm_backward(d_h1, x, block.ln_1, eps, grad.ln_1)


def block_backward_ln_buffers_crossed(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], block: Block, grad: Block,
                                      config: GPT2Config) -> Tensor[Seq, Embed]:
    """The layer norms' lines copied from each other, and the buffers left behind: grad.ln_1 for ln_2."""
    eps, n_head = config.layer_norm_epsilon, config.n_head
    h1 = model.layer_norm(x, block.ln_1, eps)
    x1 = x + model.mha(h1, block.attn, backprop.empty_cache(x.n_cols, n_head), n_head)
    h2 = model.layer_norm(x1, block.ln_2, eps)
    d_h2 = backprop.ffn_backward(dy, h2, block.mlp, grad.mlp)
    dx1 = dy + backprop.layer_norm_backward(d_h2, x1, block.ln_2, eps, grad.ln_1)
    d_h1 = backprop.mha_backward(dx1, h1, block.attn, grad.attn, n_head)
    return dx1 + backprop.layer_norm_backward(d_h1, x, block.ln_1, eps, grad.ln_2)


def block_backward_mlp_twice(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], block: Block, grad: Block,
                             config: GPT2Config) -> Tensor[Seq, Embed]:
    """The MLP's backward called once to look at it, and again inside the formula."""
    eps, n_head = config.layer_norm_epsilon, config.n_head
    h1 = model.layer_norm(x, block.ln_1, eps)
    x1 = x + model.mha(h1, block.attn, backprop.empty_cache(x.n_cols, n_head), n_head)
    h2 = model.layer_norm(x1, block.ln_2, eps)
    d_h2 = backprop.ffn_backward(dy, h2, block.mlp, grad.mlp)
    assert d_h2.shape == x.shape
    dx1 = dy + backprop.layer_norm_backward(backprop.ffn_backward(dy, h2, block.mlp, grad.mlp), x1, block.ln_2, eps,
                                            grad.ln_2)
    d_h1 = backprop.mha_backward(dx1, h1, block.attn, grad.attn, n_head)
    return dx1 + backprop.layer_norm_backward(d_h1, x, block.ln_1, eps, grad.ln_1)


STUDENTS = [
    Student(19, "transformer_block_backward", block_backward_branch_only, "failed",
            "dx1 is only the MLP branch's gradient"),
    Student(19, "transformer_block_backward", block_backward_forward_order, "failed",
            "undone in the forward pass's order"),
    Student(19, "transformer_block_backward", block_backward_ln_2_of_x, "failed", "ln_2's backward was given x"),
    Student(19, "transformer_block_backward", block_backward_ffn_of_x1, "failed", "ffn_backward was given x1"),
    Student(19, "transformer_block_backward", block_backward_norms_swapped, "failed", "ln_1 and ln_2 swapped"),
    Student(19, "transformer_block_backward", block_backward_mha_of_x, "failed", "mha_backward was given x"),
    Student(19, "transformer_block_backward", block_backward_whole_grad, "crashed",
            "a whole Block buffer was handed to a piece that takes one part of it"),
    Student(19, "transformer_block_backward", block_backward_ln_buffers_crossed, "failed",
            "went into each other's buffers"),
    Student(19, "transformer_block_backward", block_backward_mlp_twice, "failed", "was given this block's gradient twice"),
]
