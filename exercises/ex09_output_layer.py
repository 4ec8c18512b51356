"""Exercise 9: the tied output layer.                                      (about 10 minutes)

What it does
    After the last block, one more layer norm (ln_f), then one score (logit) per vocabulary
    entry.  GPT-2 has no separate output matrix: it reuses the token embedding table,
    transposed ("weight tying").  The score of token t is the dot product of the final vector
    with t's embedding: a token scores high when the vector resembles it.

The formula
    logits = layer_norm(x, ln_f) @ wte^T

The shapes
    x: Tensor[R, Embed]; params.wte: Embedding[Vocab, Embed], and params.wte.T is the
    Weight[Embed, Vocab] view of the same numbers (no copy).  Result: Tensor[R, Vocab].

Earlier pieces
    `model.layer_norm` (with config.layer_norm_epsilon).

In potatogpt
    potatogpt/model.py, `lm_head`; Embedding in potatogpt/tensor.py.

Stage 1, shapes: `python -m mypy exercises/ex09_output_layer.py`.  Reach for the wrong table (wpe is an
Embedding[Ctx, Embed], so its .T scores positions, not tokens):

        return model.layer_norm(x, params.ln_f, config.layer_norm_epsilon) @ params.wpe.T

    exercises/ex09_output_layer.py:<line>: error: Unsupported operand types for @ ("Tensor[R, Embed]" and "Weight[Embed, Ctx]")  [operator]

A confusing message: apply the layer norm to the logits instead of before the output layer, and
mypy blames the product, not the layer norm (with a second error, on the same line, for the return):

        return model.layer_norm(x @ params.wte.T, params.ln_f, config.layer_norm_epsilon)

    exercises/ex09_output_layer.py:<line>: error: Incompatible return value type (got "Tensor[R, Embed]", expected "Tensor[R, Vocab]")  [return-value]
    exercises/ex09_output_layer.py:<line>: error: Unsupported operand types for @ ("Tensor[R, Embed]" and "Weight[Embed, Vocab]")  [operator]

    It means: layer_norm takes and returns a Tensor[R, Embed], so mypy wants `x @ params.wte.T`
    to be one, and no product of those two is; and what layer_norm returns has Embed columns, not
    one logit per token.  The @ is right; the layer norm belongs around x, before it.

Stage 2, values: `python -m exercises check 9` (each value must match potatogpt's to
1e-6 plus 1e-6 of its size; rounding differs by less than 1e-12, so anything the grader reports
is a real difference.  Build new lists for your results: never write into a tensor's rows or an
argument's lists, which the grader reports as a verdict of its own).
"""

from __future__ import annotations

from typing import TypeVar

from potatogpt import model
from potatogpt.config import GPT2Config
from potatogpt.model import Params
from potatogpt.tensor import Embed, Tensor, Vocab

R = TypeVar("R", bound=int)


def lm_head(x: Tensor[R, Embed], params: Params, config: GPT2Config) -> Tensor[R, Vocab]:
    """Final layer norm, then a score for every vocabulary entry (the output layer is wte^T)."""
    raise NotImplementedError("exercise 9: write lm_head")
