from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

from potatogpt.tensor import Tensor, Vocab, from_rows

R = TypeVar("R", bound=int)


def cross_entropy(probs: Tensor[R, Vocab], targets: Sequence[int]) -> float:
    total = 0.0
    for p, target in zip(probs.rows, targets):
        total += -math.log(p[target])
    return total / len(targets)


def cross_entropy_backward(probs: Tensor[R, Vocab], targets: Sequence[int], scale: float) -> Tensor[R, Vocab]:
    rows = []
    for p, target in zip(probs.rows, targets):
        d = [v * scale for v in p]  # p, weighed as one prediction of the batch
        d[target] -= scale  # minus the one-hot, weighed the same
        rows.append(d)
    return from_rows(rows, probs.n_rows, probs.n_cols)
