"""Exercise 5: a linear layer, and the MLP built from two of them.         (about 15 minutes)

What it does
    A linear layer mixes each token's channels with the same weights: x @ W + b.  GPT-2's
    MLP ("feed-forward network") is two of them with a GELU between: widen to 4 x n_embd
    channels, bend, project back.

The formulas
    linear(x) = x @ W + b
    ffn(x)    = linear_proj(gelu(linear_fc(x)))

The shapes
    x: Tensor[Seq, I]; layer.weight: Weight[I, O] (the W of x @ W); layer.bias: Tensor[One, O]
    (one row, which `+` adds to every row).  Result: Tensor[Seq, O].
    mlp.c_fc: Linear[Embed, Hidden], mlp.c_proj: Linear[Hidden, Embed].

Earlier pieces
    Call them through the module, `model.gelu(...)`: potatogpt's own while you are graded
    (so each exercise is graded on its own), yours in the finale.  Likewise use `model.linear`
    inside ffn.

In potatogpt
    potatogpt/model.py, `linear` and `ffn`.

Stage 1, shapes: `python -m mypy exercises/ex05_linear.py`.  Forget the projection back, and the MLP
hands back its 4 x wider inside:

        inside = model.gelu(model.linear(x, mlp.c_fc))
        return inside

    exercises/ex05_linear.py:<line>: error: Incompatible return value type (got "Tensor[Seq, Hidden]", expected "Tensor[Seq, Embed]")  [return-value]

Stage 2, values: `python -m exercises check 5` (each value must match potatogpt's to
1e-6 plus 1e-6 of its size; rounding differs by less than 1e-12, so anything the grader reports
is a real difference.  Build new lists for your results: never write into a tensor's rows or an
argument's lists, which the grader reports as a verdict of its own).
"""

from __future__ import annotations

from typing import TypeVar

from potatogpt import model
from potatogpt.model import MLP, Linear
from potatogpt.tensor import Embed, Seq, Tensor

I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)


def linear(x: Tensor[Seq, I], layer: Linear[I, O]) -> Tensor[Seq, O]:
    """x @ W + b."""
    raise NotImplementedError("exercise 5: write linear")


def ffn(x: Tensor[Seq, Embed], mlp: MLP) -> Tensor[Seq, Embed]:
    """Expand (mlp.c_fc), GELU, project back (mlp.c_proj)."""
    raise NotImplementedError("exercise 5: write ffn")
