"""Exercise 8: the transformer block and its residual connections.        (about 15 minutes)

What it does
    A block reads the residual stream and *adds* to it, twice: once what attention found, once
    what the MLP computed.  Each reads a layer-normed copy of the stream ("pre-norm"); the
    stream itself is never normalised inside a block.  The additions are what let 12 (or 48)
    blocks stack: each one only has to learn a correction.

The formula
    x = x + mha(layer_norm(x, ln_1))
    x = x + ffn(layer_norm(x, ln_2))

The shapes
    Tensor[Seq, Embed] in, Tensor[Seq, Embed] out.  block.ln_1, block.attn, block.ln_2,
    block.mlp are the parameters; config.layer_norm_epsilon and config.n_head the settings.

Earlier pieces
    `model.layer_norm`, `model.mha`, `model.ffn`: potatogpt's while you are graded, yours in
    the finale.

In potatogpt
    potatogpt/model.py, `transformer_block`.

Stage 1, shapes: `python -m mypy exercises/ex08_block.py`.  Add the MLP's inside (its first layer,
4 x wider) to the stream instead of its output:

        inside = model.linear(model.layer_norm(x, block.ln_2, eps), block.mlp.c_fc)
        x = x + inside

    exercises/ex08_block.py:<line>: error: Unsupported operand types for + ("Tensor[Seq, Embed]" and "Tensor[Seq, Hidden]")  [operator]

Stage 2, values: `python -m exercises check 8` (each value must match potatogpt's to
1e-6 plus 1e-6 of its size; rounding differs by less than 1e-12, so anything the grader reports
is a real difference.  Build new lists for your results: never write into a tensor's rows or an
argument's lists, which the grader reports as a verdict of its own).
"""

from __future__ import annotations

from potatogpt import model
from potatogpt.config import GPT2Config
from potatogpt.model import Block, LayerCache
from potatogpt.tensor import Embed, Seq, Tensor


def transformer_block(x: Tensor[Seq, Embed], block: Block, cache: LayerCache, config: GPT2Config) -> Tensor[Seq, Embed]:
    """Pre-norm residual block: attention, then the MLP, each added onto x."""
    raise NotImplementedError("exercise 8: write transformer_block")
