from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from potatogpt.tensor import Tensor, Vocab, from_rows

R = TypeVar("R", bound=int)


def cross_entropy_backward(probs: Tensor[R, Vocab], targets: Sequence[int], scale: float) -> Tensor[R, Vocab]:
    rows = []
    for p, target in zip(probs.rows, targets):
        d = [v * scale for v in p]
        d[target] -= scale
        rows.append(d)
    return from_rows(rows, len(rows), probs.n_cols)  # mypy: arg-type
