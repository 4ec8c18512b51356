"""Exercise 15: GELU and the MLP, backward.                                 (about 25 minutes)

What it does
    The MLP is three stages: pre = linear(x, c_fc) widens each token to 4 x n_embd channels,
    act = gelu(pre) bends every number on its own, y = linear(act, c_proj) projects back.  Its
    backward undoes them from the outside in: c_proj first, then the GELU, then c_fc, each
    stage handing the next one down the gradient of its input.  The linear layers are exercise
    14's; the new piece is GELU's derivative.

GELU's derivative (GPT-2's tanh approximation, as model.gelu computes it)
    gelu(x) = 0.5 x (1 + tanh(u)),     u = c (x + 0.044715 x^3),     c = sqrt(2 / pi)
    It is a product, 0.5 x times (1 + tanh(u)): the product rule gives two terms,
        gelu'(x) = 0.5 (1 + tanh(u))  +  0.5 x * d/dx tanh(u)
    and tanh of a function of x takes the chain rule: tanh'(u) = 1 - tanh(u)^2, times
        du/dx = c (1 + 3 * 0.044715 x^2)          (the 3 from the derivative of x^3)
    so, with t = tanh(u),
        gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 * 0.044715 x^2).
    GELU acts on each number alone: entry [s][j] of the output depends only on entry [s][j]
    of the input.  So there is no sum in its backward, only a product, entry by entry:
        dx[s][j] = dy[s][j] * gelu'(x[s][j])
    with gelu' taken at the INPUT x (the pre-activation), where the forward pass took gelu.
    (It is not the derivative of the exact GELU, x * Phi(x) with erf: GPT-2 uses the tanh
    formula, and so must its derivative.)

The MLP, backward (the chain rule, one stage at a time)
    Forward: pre = linear(x, c_fc), act = gelu(pre), y = linear(act, c_proj).  Backward, the
    last stage first; each stage's backward turns the gradient of its output into the
    gradient of its input:
        dy     --c_proj's linear_backward-->   d_act      (c_proj's input was act)
        d_act  --gelu_backward-->              d_pre      (GELU's input was pre)
        d_pre  --c_fc's linear_backward-->     dx         (c_fc's input was x)
    Each needs the input ITS stage had in the forward pass (a linear layer's weight gradient is
    input^T @ dy; GELU's slope is taken at its input), so first recompute pre and act with
    model.linear and model.gelu (the lessons' stages take their inputs, and keep nothing).

The shapes
    x and dy: Tensor[Seq, Embed] (n_embd channels); pre, act, d_act, d_pre: Tensor[Seq,
    Hidden] (4 x n_embd).  gelu_backward's dy and x have the same shape, and so does its result.

Adding, never assigning
    `grad` is a gradient buffer shaped like the MLP (an MLP of two Linear buffers, which may
    already hold an earlier row's gradient).  You never touch it yourself: hand grad.c_proj and
    grad.c_fc to the linear_backward of the same layer, which adds into them.

The tools
    x.map(f) applies f to every number; dy.hadamard(t) multiplies two tensors of the same
    shape entry by entry; math.tanh and math.sqrt.

Earlier pieces
    Call them through `backprop.` (from exercises import backprop):
    backprop.linear_backward(dy, x, layer, grad) adds into grad and returns dx (exercise 14),
    and in ffn_backward, backprop.gelu_backward(dy, x).  While you are graded these are
    potatogpt's (so ffn_backward is graded on its own, whatever your gelu_backward does); in
    `python -m exercises train` they are the ones you wrote.

In potatogpt
    potatogpt/backward.py, `gelu_backward` and `ffn_backward` (potatogpt's ffn_backward takes
    the forward pass's recording instead of x, and reads pre and act from it; exercises/
    backprop.py's has the lesson's signature).

Stage 1, shapes: `python -m mypy exercises/ex15_mlp_backward.py`.  Undo the layers in the order
the forward pass ran them, c_fc first, and the gradient arriving from above (n_embd channels)
does not fit c_fc's output (4 x n_embd):

        d_pre = backprop.linear_backward(dy, x, mlp.c_fc, grad.c_fc)

    exercises/ex15_mlp_backward.py:<line>: error: Cannot infer value of type parameter "O" of "linear_backward"  [misc]

It means: no O fits.  linear_backward(dy: Tensor[Seq, O], ..., layer: Linear[I, O], ...) wants
dy to have the layer's output channels; dy (n_embd) says O is Embed, c_fc (n_embd -> 4 x
n_embd) says Hidden.  The gradient from above belongs to the LAST layer, c_proj.

Stage 2, values: `python -m exercises check 15`, against potatogpt's own gradients on block 0's
real MLP input and pre-activations of the tiny checkpoint, and, where yours differ, against
(f(x + h) - f(x - h)) / 2h, the derivative's definition, with f = the sum of dy times the
stage's output.  (Each value must match to 1e-6 plus 1e-6 of its size.  Return new tensors;
write only into `grad`.)
"""

from __future__ import annotations

import math

from exercises import backprop
from potatogpt import model
from potatogpt.model import MLP
from potatogpt.tensor import Embed, Hidden, Seq, Tensor


def gelu_backward(dy: Tensor[Seq, Hidden], x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    """y = gelu(x): return dx = dy * gelu'(x), entry by entry."""
    raise NotImplementedError("exercise 15: write gelu_backward")


def ffn_backward(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], mlp: MLP, grad: MLP) -> Tensor[Seq, Embed]:
    """y = linear(gelu(linear(x, c_fc)), c_proj): add the four gradients into grad, return dx."""
    raise NotImplementedError("exercise 15: write ffn_backward")
