"""Exercise 12: cross-entropy and its gradient.                            (about 20 minutes)

What it does
    Training starts at the top.  The model gives each position a row of probabilities over the
    vocabulary (softmax of the logits); the loss says how surprised it was by the token that
    really came next, and the backward pass starts from the loss's gradient with respect to the
    logits.  Two functions: the loss, and d loss / d logits.

The loss (one row of a batch: position t predicts targets[t], the next token)
    loss_t = -log p_t[targets[t]]             (natural log: nats; math.log)
    loss   = the mean of loss_t over the rows  (what a trainer prints)
    A sure right guess (p = 1) costs 0; p = 1/96, a blind guess among 96 tokens, costs
    log 96 = 4.56.  Only the target's probability counts, not the largest one.

The gradient, through the log and the softmax together (p = softmax(z), z the logits, y the target)
    d(-log p[y]) / d z[j] = -(1 / p[y]) * d p[y] / d z[j]
    and the softmax's slope is  d p[y] / d z[j] = p[y] * (1 if j == y else 0) - p[y] * p[j],  so
    d(-log p[y]) / d z[j] = p[j] - (1 if j == y else 0)         that is:  p minus one-hot(y)
    Every logit is pushed down by its probability, and the target's pulled up by 1.  The 1/p[y]
    of the log cancels the p[y] of the softmax, which is why the two are taken together: the
    result needs no division and no V x V softmax slope.  Read it off `probs`, the
    probabilities the loss was computed from; the logits are not needed at all.

The scale
    A batch of B rows of T tokens makes B x T predictions, and the loss is their mean, so each
    prediction weighs 1 / (B * T) in it: multiply every row's gradient (the -1 too) by `scale`.
    The caller knows B and T and passes scale = 1 / (B * T); do not recompute it from the rows
    you are given (that would be 1 / T, one row's share only).

The shapes
    probs: Tensor[R, Vocab], one row per position; targets: R token ids; the gradient has probs's
    shape.  cross_entropy returns a plain float.

Earlier pieces
    None: this is where the backward pass begins.  (The probabilities come from the logits'
    softmax_rows(), as in exercise 11.)

In potatogpt
    potatogpt/backward.py, `cross_entropy` and `cross_entropy_backward`; `row_backward` there
    calls them first, then hands the gradient down to the output layer (exercise 13).

Stage 1, shapes: `python -m mypy exercises/ex12_cross_entropy.py`.  Count the rows yourself, and mypy
refuses the count: len(rows) is a plain int, while the result's rows must be the same R as
probs's (a Tensor's size is branded, so the shapes can be checked):

        return from_rows(rows, len(rows), probs.n_cols)

    exercises/ex12_cross_entropy.py:<line>: error: Argument 2 to "from_rows" has incompatible type "int"; expected "R"  [arg-type]

    Use probs.n_rows (and probs.n_cols), which carry the brands.

Stage 2, values: `python -m exercises check 12`, on the real probabilities of the tiny checkpoint
for two rows of 7 tokens (targets: each row shifted by one), with scale = 1 / (2 * 7), against
potatogpt's own, and, where yours differ, against the finite difference (f(z + h) - f(z - h)) / 2h
on the logits z, with f = scale times the sum of -log softmax(z)[target]: the loss with each
prediction weighed as in the batch.  (Each value must match to 1e-6 plus 1e-6 of its size.
Build new lists: never write into probs's rows.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

from potatogpt.tensor import Tensor, Vocab, from_rows

R = TypeVar("R", bound=int)


def cross_entropy(probs: Tensor[R, Vocab], targets: Sequence[int]) -> float:
    """The mean over the rows of -log p[target], in nats."""
    raise NotImplementedError("exercise 12: write cross_entropy")


def cross_entropy_backward(probs: Tensor[R, Vocab], targets: Sequence[int], scale: float) -> Tensor[R, Vocab]:
    """d loss / d logits: p minus 1 at the target, every entry times scale."""
    raise NotImplementedError("exercise 12: write cross_entropy_backward")
