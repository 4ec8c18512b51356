"""Choosing the next token from the model's logits: greedy, temperature, top-k and top-p."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence


def argmax(logits: Sequence[float]) -> int:
    """The index of the largest logit (the first one, if several tie)."""
    return max(range(len(logits)), key=logits.__getitem__)


def softmax(logits: Sequence[float], temperature: float = 1.0) -> list[float]:
    """Probabilities from logits; a temperature below 1 sharpens them, above 1 flattens them."""
    top = max(logits)
    exps = [math.exp((v - top) / temperature) for v in logits]
    total = sum(exps)
    return [e / total for e in exps]


def log_softmax(logits: Sequence[float]) -> list[float]:
    """The natural log of softmax(logits), computed without ever rounding a tiny probability to 0."""
    top = max(logits)
    log_total = top + math.log(sum(math.exp(v - top) for v in logits))
    return [v - log_total for v in logits]


def top_k_candidates(probs: Sequence[float], k: int) -> list[int]:
    """The indices of the k most likely tokens, most likely first."""
    return sorted(range(len(probs)), key=lambda i: -probs[i])[:k]


def top_p_candidates(probs: Sequence[float], candidates: Sequence[int], p: float) -> list[int]:
    """Nucleus sampling: the fewest most-likely candidates whose probability adds up to >= p.

    Probabilities are renormalised over `candidates` first (so top-p after top-k works on what
    top-k kept).  `candidates` must be sorted most likely first.
    """
    total = sum(probs[i] for i in candidates)
    kept: list[int] = []
    mass = 0.0
    for i in candidates:
        kept.append(i)
        mass += probs[i] / total
        if mass >= p:
            break
    return kept


def sample_from(probs: Sequence[float], candidates: Sequence[int], rng: random.Random) -> int:
    """Draw one candidate with probability proportional to probs[candidate]."""
    total = sum(probs[i] for i in candidates)
    threshold = rng.random() * total
    running = 0.0
    for i in candidates:
        running += probs[i]
        if running > threshold:
            return i
    return candidates[-1]  # only reached through rounding when threshold is within 1 ulp of total


class Sampler:
    """The decoding settings of one generation, with its own random stream (seeded: repeatable)."""

    def __init__(
        self,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> None:
        if not (math.isfinite(temperature) and temperature >= 0.0):
            raise ValueError(f"temperature must be a number >= 0 (0 means greedy), not {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be at least 1, not {top_k}")
        if top_p is not None and not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], not {top_p}")
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.rng = random.Random(seed)

    def choose(self, logits: Sequence[float]) -> int:
        """The next token id."""
        if self.temperature == 0.0:
            return argmax(logits)
        probs, candidates = self.distribution(logits)
        return sample_from(probs, candidates, self.rng)

    def distribution(self, logits: Sequence[float]) -> tuple[list[float], Sequence[int]]:
        """What `choose` draws from: the probabilities at this temperature, and the tokens it may
        pick (all of them without top-k or top-p; the nucleus with top-p).  Greedy decoding
        picks argmax(logits) with probability 1."""
        if self.temperature == 0.0:
            best = argmax(logits)
            return [float(i == best) for i in range(len(logits))], [best]
        probs = softmax(logits, self.temperature)
        if self.top_k is None and self.top_p is None:
            return probs, range(len(probs))
        candidates = top_k_candidates(probs, self.top_k or len(probs))
        if self.top_p is not None:
            candidates = top_p_candidates(probs, candidates, self.top_p)
        return probs, candidates
