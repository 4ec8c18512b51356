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


def frequencies(sampler: Sampler, logits: list[float], draws: int) -> list[float]:
    counts = [0] * len(logits)
    for _ in range(draws):
        counts[sampler.choose(logits)] += 1
    return [c / draws for c in counts]


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_temperature_sets_the_odds(temperature: float) -> None:
    """With logits ln 1, ln 2, ln 4, temperature T draws token i with odds 1 : 2^(1/T) : 4^(1/T).

    Worked by hand: at T = 0.5 that is 1 : 4 : 16, at T = 2 it is 1 : 1.41 : 2.  A sampler that
    ignored T would give 1 : 2 : 4 every time; 40,000 draws tell these apart by many standard
    errors (each frequency's is below 0.0025).
    """
    logits = [0.0, math.log(2.0), math.log(4.0)]
    weights = [1.0, 2.0 ** (1 / temperature), 4.0 ** (1 / temperature)]
    expected = [w / sum(weights) for w in weights]
    seen = frequencies(Sampler(temperature=temperature, seed=11), logits, 40000)
    assert seen == pytest.approx(expected, abs=0.012)


def test_top_k_and_top_p_together() -> None:
    """top-k first (keeps 0.4, 0.3, 0.2 of 0.4/0.3/0.2/0.1), then top-p over what it kept,
    renormalised: 4/9 < 0.6 <= 7/9, so the nucleus is the first two, drawn 4 : 3."""
    logits = [math.log(p) for p in (0.4, 0.3, 0.2, 0.1)]
    seen = frequencies(Sampler(temperature=1.0, top_k=3, top_p=0.6, seed=5), logits, 20000)
    assert seen[2] == 0.0 and seen[3] == 0.0
    assert seen[0] == pytest.approx(4 / 7, abs=0.015)
    # top-p alone would keep 0.4 + 0.3 too, but at 0.75 it needs the third; top-k=2 then wins.
    seen = frequencies(Sampler(temperature=1.0, top_k=2, top_p=0.75, seed=6), logits, 5000)
    assert seen[2] == 0.0 and seen[3] == 0.0 and seen[1] > 0.3
    seen = frequencies(Sampler(temperature=1.0, top_p=0.75, seed=6), logits, 5000)
    assert seen[2] > 0.1  # (the check above is not vacuous: without top-k, token 2 is drawn)
