"""Exercise 12 (cross-entropy and its gradient): wrong solutions as students write them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

from potatogpt.tensor import Tensor, Vocab, from_rows

from .students import Student

R = TypeVar("R", bound=int)


def cross_entropy_summed(probs: Tensor[R, Vocab], targets: Sequence[int]) -> float:
    """-log p[target] added up over the rows, and the mean forgotten."""
    return -sum(math.log(p[t]) for p, t in zip(probs.rows, targets))


def cross_entropy_of_the_favourite(probs: Tensor[R, Vocab], targets: Sequence[int]) -> float:
    """"How sure the model was": the probability of its own best guess, not of the target."""
    return sum(-math.log(max(p)) for p in probs.rows) / len(targets)


def cross_entropy_per_row(probs: Tensor[R, Vocab], targets: Sequence[int]) -> float:
    """Every row's loss, kept as a list (the mean left to the caller)."""
    return [-math.log(p[t]) for p, t in zip(probs.rows, targets)]  # type: ignore[return-value]  # (wrong on purpose)


def cross_entropy_backward_unscaled_one(probs: Tensor[R, Vocab], targets: Sequence[int], scale: float) -> Tensor[R, Vocab]:
    """p scaled first, then 1 taken off at the target, as the formula p - one-hot reads."""
    rows = []
    for p, target in zip(probs.rows, targets):
        d = [v * scale for v in p]
        d[target] -= 1.0
        rows.append(d)
    return from_rows(rows, probs.n_rows, probs.n_cols)


def cross_entropy_backward_own_scale(probs: Tensor[R, Vocab], targets: Sequence[int], scale: float) -> Tensor[R, Vocab]:
    """"The loss is the mean over the rows", so 1 / number of rows, and the given scale ignored."""
    n = probs.n_rows
    rows = []
    for p, target in zip(probs.rows, targets):
        d = list(p)
        d[target] -= 1.0
        rows.append([v / n for v in d])
    return from_rows(rows, probs.n_rows, probs.n_cols)


def cross_entropy_backward_one_hot_minus_p(probs: Tensor[R, Vocab], targets: Sequence[int], scale: float) -> Tensor[R, Vocab]:
    """One-hot minus p: "the target should go up", written as the gradient itself."""
    rows = []
    for p, target in zip(probs.rows, targets):
        d = [-v * scale for v in p]
        d[target] += scale
        rows.append(d)
    return from_rows(rows, probs.n_rows, probs.n_cols)


def cross_entropy_backward_row_index(probs: Tensor[R, Vocab], targets: Sequence[int], scale: float) -> Tensor[R, Vocab]:
    """The loop's counter used where the target belongs."""
    rows = []
    for i, p in enumerate(probs.rows):
        d = [v * scale for v in p]
        d[i] -= scale
        rows.append(d)
    return from_rows(rows, probs.n_rows, probs.n_cols)


def cross_entropy_backward_no_one_hot(probs: Tensor[R, Vocab], targets: Sequence[int], scale: float) -> Tensor[R, Vocab]:
    """"Read off probs": the probabilities, scaled, and nothing else."""
    return probs * scale


STUDENTS = [
    Student(12, "cross_entropy", cross_entropy_summed, "failed", "the loss is the sum over the rows"),
    Student(12, "cross_entropy", cross_entropy_of_the_favourite, "failed", "-log of the largest probability"),
    Student(12, "cross_entropy", cross_entropy_per_row, "failed", "the loss is one number"),
    Student(12, "cross_entropy_backward", cross_entropy_backward_unscaled_one, "failed", "the -1 was not scaled"),
    Student(12, "cross_entropy_backward", cross_entropy_backward_own_scale, "failed", "use `scale` as given"),
    Student(12, "cross_entropy_backward", cross_entropy_backward_one_hot_minus_p, "failed", "the sign is flipped"),
    Student(12, "cross_entropy_backward", cross_entropy_backward_row_index, "failed", "the -1 is at column i"),
    Student(12, "cross_entropy_backward", cross_entropy_backward_no_one_hot, "failed", "the -1 at the target is missing"),
]
