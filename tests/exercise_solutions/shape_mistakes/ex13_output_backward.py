from __future__ import annotations

from typing import TypeVar

from potatogpt.model import Params
from potatogpt.tensor import Tensor, Vocab

R = TypeVar("R", bound=int)


def d_normed_of(d_logits: Tensor[R, Vocab], params: Params) -> object:
    d_normed = d_logits @ params.wte.T  # mypy: operator
    return d_normed
