"""Exercise 11: choosing the next token: temperature, top-k, top-p.        (about 25 minutes)

What it does
    The network gives one logit per vocabulary entry.  Greedy decoding takes the largest;
    sampling draws from the probabilities instead, shaped by three settings:
    temperature (below 1 sharpens the distribution, above 1 flattens it), top-k (only the k
    most likely tokens) and top-p or "nucleus" (only the fewest most likely tokens whose
    probability adds up to at least p).

The formulas
    softmax(logits, T)_i = exp((l_i - max l) / T) / sum_j exp((l_j - max l) / T)
    top_k_candidates(probs, k): the indices of the k largest probabilities, most likely first;
        among equal probabilities, the smaller index first (sorted(range(len(probs)), key=...,
        reverse=True) keeps that order, since Python's sort is stable even when reversed)
    top_p_candidates(probs, candidates, p): walk `candidates` (sorted most likely first),
        adding probs[i] / (sum of probs over candidates); keep each one you walk past, and
        stop right after the one that brings the total to >= p.  Dividing by the candidates'
        total matters when top-k ran first.

Mind the cost
    GPT-2 has 50,257 logits.  Add up the exponentials once, before dividing: `[e / sum(exps) for
    e in exps]` sums all 50,257 of them for every entry, 2.5 billion additions.

The types
    Plain lists here: logits and probabilities are list[float] (one per vocabulary entry),
    candidates are list[int] (token ids).

In potatogpt
    potatogpt/sampling.py: `softmax`, `top_k_candidates`, `top_p_candidates`, and `Sampler.choose`
    which strings them together.

Stage 1, shapes: `python -m mypy exercises/ex11_sampling.py`.  Return the k largest probabilities
instead of the k most likely tokens:

        return sorted(probs, reverse=True)[:k]

    exercises/ex11_sampling.py:<line>: error: Incompatible return value type (got "list[float]", expected "list[int]")  [return-value]

Stage 2, values: `python -m exercises check 11` (each value must match potatogpt's to
1e-6 plus 1e-6 of its size; rounding differs by less than 1e-12, so anything the grader reports
is a real difference.  Build new lists for your results: never write into a tensor's rows or an
argument's lists, which the grader reports as a verdict of its own).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def softmax(logits: Sequence[float], temperature: float = 1.0) -> list[float]:
    """Probabilities from logits, sharpened (temperature < 1) or flattened (> 1)."""
    raise NotImplementedError("exercise 11: write softmax")


def top_k_candidates(probs: Sequence[float], k: int) -> list[int]:
    """The indices of the k most likely tokens, most likely first."""
    raise NotImplementedError("exercise 11: write top_k_candidates")


def top_p_candidates(probs: Sequence[float], candidates: Sequence[int], p: float) -> list[int]:
    """The fewest leading candidates whose renormalised probability adds up to >= p."""
    raise NotImplementedError("exercise 11: write top_p_candidates")
