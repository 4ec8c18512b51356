"""Exercise 19: the backward pass of a transformer block.                 (about 30 minutes)

What it does
    A block is the backward pass in small: two stages you have written (the MLP, attention),
    two layer norms, and two residual connections.  Given dy = d loss / d (the block's output),
    add every parameter's gradient into `grad` (a Block) and return dx = d loss / d (the
    block's input), which the block below receives as its dy.

The formulas (the forward pass, then the chain rule from its end)
    h1 = ln_1(x),   x1 = x + mha(h1)          (attention reads a normalised copy of x)
    h2 = ln_2(x1),  y  = x1 + ffn(h2)         (the MLP reads a normalised copy of x1)
    x1 reaches y by two paths: straight through the addition, and through ln_2 and the MLP.
    The chain rule adds the paths, and the addition's derivative is 1, so
        dx1 = dy + layer_norm_backward(ffn_backward(dy, h2), x1, ln_2)
    The same for x1 = x + mha(h1), with dx1 where dy was:
        dx  = dx1 + layer_norm_backward(mha_backward(dx1, h1), x, ln_1)
    A residual passes its gradient straight through AND adds its branch's.  (That straight path
    is why the gradient reaches block 0 of a deep network undiminished.)  The order is forced:
    the MLP came last, so it is undone first, and attention needs dx1, which is known only
    once the MLP's branch has been added to dy.

Recompute what the pieces need
    Each piece takes its stage's input: ffn_backward the MLP's, h2 = ln_2(x1); mha_backward
    attention's, h1 = ln_1(x); layer_norm_backward what that norm normalised (x1 for ln_2, x
    for ln_1).  Only x is given: compute h1, x1 and h2 again with model.layer_norm and
    model.mha.  model.mha fills a KV cache: give it an empty one,
    backprop.empty_cache(x.n_cols, config.n_head) (a training pass starts at position 0, so
    the keys are exactly this row's tokens).  eps is config.layer_norm_epsilon.

The shapes
    Every tensor here is a Tensor[Seq, Embed]: the types cannot tell x from x1 or h2, so the
    values must.  What the types do tell apart is the buffers: each piece adds into its own
    part of grad, grad.mlp (an MLP), grad.ln_2 (a LayerNorm), grad.attn (an Attention),
    grad.ln_1 (a LayerNorm), the same parts as block.mlp, block.ln_2, ...

Adding, never assigning
    The pieces add into the buffers they are given (exercises 14 to 18): hand each its part of
    grad, which may already hold another row's gradient, and write nothing into grad yourself.

Earlier pieces
    `backprop.ffn_backward(dy, x, mlp, grad)`, `backprop.layer_norm_backward(dy, x, ln, eps, grad)`
    and `backprop.mha_backward(dy, x, attn, grad, n_head)` (exercises 15, 16 and 18), with
    `model.layer_norm` and `model.mha` for the forward pass: potatogpt's while you are graded,
    yours in `python -m exercises train`.

In potatogpt
    potatogpt/backward.py, `transformer_block_backward`, which reads h1, x1 and h2 from the
    recording of the forward pass instead of computing them again.  `row_backward` calls it
    once per block, the last block first, each block's dx becoming the dy of the one below.

Stage 1, shapes: `python -m mypy exercises/ex19_block_backward.py`.  Hand the MLP's backward all
of grad where only its MLP part belongs:

        d_h2 = backprop.ffn_backward(dy, h2, block.mlp, grad)

    exercises/ex19_block_backward.py:<line>: error: Argument 4 to "ffn_backward" has incompatible type "Block"; expected "MLP"  [arg-type]

Stage 2, values: `python -m exercises check 19`, on blocks 0 and 1 of the tiny checkpoint (block
1 reading what block 0 wrote), against potatogpt's dx and buffers, and where yours differ,
against finite differences, (f(x + h) - f(x - h)) / 2h with f = the sum of dy times the block's
output (the same for each parameter).  Each value must match to 1e-6 plus 1e-6 of its size.
Return a new tensor; write only into `grad`.
"""

from __future__ import annotations

from exercises import backprop
from potatogpt import model
from potatogpt.config import GPT2Config
from potatogpt.model import Block
from potatogpt.tensor import Embed, Seq, Tensor


def transformer_block_backward(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], block: Block, grad: Block,
                               config: GPT2Config) -> Tensor[Seq, Embed]:
    """x1 = x + mha(ln_1(x)), y = x1 + ffn(ln_2(x1)): add the block's gradients into grad, return dx."""
    raise NotImplementedError("exercise 19: write transformer_block_backward")
