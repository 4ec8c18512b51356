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

Stage 1, shapes: `mypy exercises/ex09_output_layer.py`.  Reach for the wrong table (wpe is an
Embedding[Ctx, Embed], so its .T scores positions, not tokens):

        return model.layer_norm(x, params.ln_f, config.layer_norm_epsilon) @ params.wpe.T

    exercises/ex09_output_layer.py:<line>: error: Unsupported operand types for @ ("Tensor[R, Embed]" and "Weight[Embed, Ctx]")  [operator]

Stage 2, values: `python -m exercises check 9`.
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
