"""Exercise 11, solved."""

from __future__ import annotations

import math
from collections.abc import Sequence


def softmax(logits: Sequence[float], temperature: float = 1.0) -> list[float]:
    top = max(logits)
    exps = [math.exp((v - top) / temperature) for v in logits]
    total = sum(exps)
    return [e / total for e in exps]


def top_k_candidates(probs: Sequence[float], k: int) -> list[int]:
    return sorted(range(len(probs)), key=lambda i: probs[i], reverse=True)[:k]


def top_p_candidates(probs: Sequence[float], candidates: Sequence[int], p: float) -> list[int]:
    total = sum(probs[i] for i in candidates)
    kept: list[int] = []
    mass = 0.0
    for i in candidates:
        kept.append(i)
        mass += probs[i] / total
        if mass >= p:
            break
    return kept
