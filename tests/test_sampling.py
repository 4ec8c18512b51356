"""Sampling: greedy picks the max; top-k and top-p never leave their sets; seeds repeat."""

from __future__ import annotations

import math
import random

import pytest

from potatogpt.sampling import Sampler, argmax, sample_from, softmax, top_k_candidates, top_p_candidates


def test_argmax_takes_the_first_of_ties() -> None:
    assert argmax([0.1, 3.0, -2.0, 3.0]) == 1


def test_softmax_and_temperature() -> None:
    assert softmax([0.0, math.log(3.0)]) == pytest.approx([0.25, 0.75])
    # Temperature 2 halves the logits: softmax([0, ln 3 / 2]) = [1, sqrt 3] / (1 + sqrt 3).
    s3 = math.sqrt(3.0)
    assert softmax([0.0, math.log(3.0)], temperature=2.0) == pytest.approx([1 / (1 + s3), s3 / (1 + s3)])


def test_top_k_candidates() -> None:
    assert top_k_candidates([0.1, 0.4, 0.2, 0.3], 2) == [1, 3]


def test_top_p_candidates_keeps_the_smallest_nucleus() -> None:
    probs = [0.1, 0.4, 0.2, 0.3]
    order = [1, 3, 2, 0]
    assert top_p_candidates(probs, order, 0.5) == [1, 3]  # 0.4 < 0.5 <= 0.7
    assert top_p_candidates(probs, order, 0.4) == [1]
    assert top_p_candidates(probs, order, 1.0) == [1, 3, 2, 0]
    # After top-k kept [1, 3], their probabilities renormalise to 4/7 and 3/7.
    assert top_p_candidates(probs, [1, 3], 0.5) == [1]
    assert top_p_candidates(probs, [1, 3], 0.6) == [1, 3]


def test_sample_from_follows_the_probabilities() -> None:
    rng = random.Random(0)
    counts = [0, 0, 0]
    for _ in range(20000):
        counts[sample_from([0.2, 0.0, 0.8], [0, 1, 2], rng)] += 1
    assert counts[1] == 0
    assert 0.18 < counts[0] / 20000 < 0.22


def test_greedy_is_the_default() -> None:
    assert Sampler().choose([0.0, 5.0, 1.0]) == 1


def test_seed_reproduces_the_same_samples() -> None:
    logits = [0.1 * i for i in range(50)]
    first = Sampler(temperature=1.0, seed=42)
    second = Sampler(temperature=1.0, seed=42)
    a = [first.choose(logits) for _ in range(30)]
    assert a == [second.choose(logits) for _ in range(30)]
    assert len(set(a)) > 3  # it really is sampling


@pytest.mark.parametrize("seed", range(5))
def test_top_k_never_picks_outside_the_k_best(seed: int) -> None:
    rng = random.Random(seed)
    logits = [rng.gauss(0.0, 2.0) for _ in range(200)]
    best = set(sorted(range(200), key=lambda i: -logits[i])[:5])
    sampler = Sampler(temperature=1.5, top_k=5, seed=seed)
    assert {sampler.choose(logits) for _ in range(300)} <= best


@pytest.mark.parametrize("seed", range(5))
def test_top_p_never_picks_outside_the_nucleus(seed: int) -> None:
    rng = random.Random(seed)
    logits = [rng.gauss(0.0, 2.0) for _ in range(200)]
    probs = softmax(logits)
    order = sorted(range(200), key=lambda i: -probs[i])
    nucleus, mass = set(), 0.0
    for i in order:
        nucleus.add(i)
        mass += probs[i]
        if mass >= 0.6:
            break
    sampler = Sampler(temperature=1.0, top_p=0.6, seed=seed)
    picks = {sampler.choose(logits) for _ in range(300)}
    assert picks <= nucleus
    assert len(picks) > 1


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="temperature"):
        Sampler(temperature=-1.0)
    with pytest.raises(ValueError, match="temperature"):
        Sampler(temperature=float("nan"))
    with pytest.raises(ValueError, match="top_k"):
        Sampler(top_k=0)
    with pytest.raises(ValueError, match="top_p"):
        Sampler(top_p=0.0)
    with pytest.raises(ValueError, match="top_p"):
        Sampler(top_p=1.5)
