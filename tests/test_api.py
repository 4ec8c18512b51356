"""The API (api.py): `load(folder)` and `GPT2`'s logits, generation and scoring, and what they refuse."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from helpers import Exported
import potatogpt
from potatogpt.api import GPT2, ContextError, load
from potatogpt.sampling import softmax


# --- Logits and generation, on random in-memory weights (conftest.py's `model`) ---------------
def test_next_token_logits_is_the_last_row(model: GPT2) -> None:
    ids = [464, 3290, 318]
    assert model.next_token_logits(ids) == pytest.approx(model.logits(ids)[-1], abs=1e-12)


def test_greedy_generation_is_argmax_of_a_full_recompute(model: GPT2) -> None:
    ids = [464, 3290]
    generated = list(model.generate(ids, 6, stop_at_eot=False))
    assert len(generated) == 6
    context = list(ids)
    for token in generated:
        logits = model.next_token_logits(context)
        assert token == max(range(len(logits)), key=logits.__getitem__)
        context.append(token)


def test_sampling_with_a_seed_repeats(model: GPT2) -> None:
    def run(seed: int) -> list[int]:
        return list(model.generate([464], 8, temperature=1.5, seed=seed, stop_at_eot=False))

    assert run(7) == run(7)
    assert any(run(7) != run(s) for s in range(8, 12))


def test_logits_seen_records_each_choice(model: GPT2) -> None:
    seen: list[list[float]] = []
    tokens = list(model.generate([464], 3, stop_at_eot=False, logits_seen=seen))
    assert len(seen) == 3
    assert [max(range(len(s)), key=s.__getitem__) for s in seen] == tokens


def test_zero_new_tokens(model: GPT2) -> None:
    assert list(model.generate([1, 2], 0)) == []


# --- Scoring ----------------------------------------------------------------------------------
def test_score_is_the_log_softmax_of_the_logits(exported: Exported) -> None:
    model = potatogpt.load(exported.folder("tiny"))
    ids = [3, 14, 15, 9, 26]
    rows = model.logits(ids)
    for i, log_p in enumerate(model.score(ids)):
        assert math.exp(log_p) == pytest.approx(softmax(rows[i])[ids[i + 1]], rel=1e-12)


def test_score_refuses_what_it_cannot_score(exported: Exported) -> None:
    model = potatogpt.load(exported.folder("tiny"))
    with pytest.raises(ValueError, match="at least two tokens"):
        model.score([5])
    n_ctx = model.config.n_ctx
    assert len(model.score([1] * (n_ctx + 1))) == n_ctx  # the last token is never fed in
    with pytest.raises(ContextError):
        model.score([1] * (n_ctx + 2))


# --- Refusals ---------------------------------------------------------------------------------
def test_context_limit_is_refused_up_front(model: GPT2) -> None:
    # 16 positions: a 10-token prompt can grow by 7 (the last token is never fed back in).
    assert len(list(model.generate([1] * 10, 7, stop_at_eot=False))) == 7
    with pytest.raises(ContextError, match="need 17 positions, but the model's context is 16"):
        model.generate([1] * 10, 8)
    with pytest.raises(ContextError, match="exceed the model's context of 16"):
        model.next_token_logits([1] * 17)


def test_bad_ids_are_refused(model: GPT2) -> None:
    with pytest.raises(ValueError, match="token id 50257 is outside"):
        model.next_token_logits([50257])
    with pytest.raises(ValueError, match="at least one token"):
        model.next_token_logits([])


def test_unknown_storage_and_reference_with_jobs_are_refused(tmp_path: Path) -> None:
    # Refused before anything is read: the folder need not even exist.
    with pytest.raises(ValueError, match="storage must be one of 'reference', 'exact', 'compact', 'packed', not 'bogus'"):
        load(tmp_path, storage="bogus")  # type: ignore[arg-type]  # deliberately not a Storage
    with pytest.raises(ValueError, match="reference mode runs in one process"):
        load(tmp_path, storage="reference", jobs=2)
