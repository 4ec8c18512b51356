"""potatogpt against Hugging Face transformers, on the committed random-weight checkpoints.

tests/fixtures/make_checkpoints.py ran transformers once and stored its logits and greedy
continuations in each checkpoint's reference.json; here the exported checkpoints must
reproduce them: logits within 1e-4, greedy tokens identical.
"""

from __future__ import annotations

from typing import cast

import pytest

from conftest import CHECKPOINT_NAMES, Exported, reference
from potatogpt.api import GPT2, Storage, load
from potatogpt.tensor import ONE

TOLERANCE = 1e-4
STORAGES: list[Storage] = ["reference", "exact", "compact", "packed"]


def cases(name: str, key: str) -> list[dict[str, object]]:
    return cast(list[dict[str, object]], reference(name)[key])


def ints(value: object) -> list[int]:
    return [int(v) for v in cast(list[int], value)]


def load_model(exported: Exported, name: str, storage: Storage = "exact") -> GPT2:
    return load(exported.folder(name), storage=storage)


def test_every_checkpoint_is_covered() -> None:
    assert {"tiny", "tiny-prefixed", "tiny-f16", "tiny-bf16", "tiny-vocab", "tiny-eps"} <= set(CHECKPOINT_NAMES)


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("name", CHECKPOINT_NAMES)
def test_logits_match_transformers(exported: Exported, name: str, storage: Storage) -> None:
    model = load_model(exported, name, storage)
    n_ctx = model.config.n_ctx
    lengths = set()
    for case in cases(name, "logits"):
        ids = ints(case["ids"])
        lengths.add(len(ids))
        ours = model.logits(ids)
        rows = cast(list[list[float]], case["rows"])
        for position, expected in zip(ints(case["positions"]), rows):
            worst = max(abs(a - b) for a, b in zip(ours[position], expected))
            assert worst < TOLERANCE, f"{name}: {len(ids)} tokens, position {position}: off by {worst:.2e}"
    assert n_ctx in lengths  # the full context window is among the references


@pytest.mark.parametrize("name", CHECKPOINT_NAMES)
def test_kv_cached_steps_match_transformers(exported: Exported, name: str) -> None:
    """Half the sequence as a prompt, then one token at a time through the KV cache."""
    model = load_model(exported, name)
    case = max(cases(name, "logits"), key=lambda c: len(ints(c["ids"])))
    ids = ints(case["ids"])
    expected = dict(zip(ints(case["positions"]), cast(list[list[float]], case["rows"])))
    half = max(1, len(ids) // 2)
    kv_cache = model.new_kv_cache()
    step_logits = {half - 1: model.forward(ids[:half], kv_cache)}
    for position in range(half, len(ids)):
        step_logits[position] = model.forward([ids[position]], kv_cache)
    checked = 0
    for position, row in expected.items():
        if position in step_logits:
            assert max(abs(a - b) for a, b in zip(step_logits[position], row)) < TOLERANCE
            checked += 1
    assert checked >= 1


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("name", CHECKPOINT_NAMES)
def test_greedy_continuations_match_transformers(exported: Exported, name: str, storage: Storage) -> None:
    model = load_model(exported, name, storage)
    for case in cases(name, "greedy"):
        prompt, new = ints(case["prompt_ids"]), ints(case["new_ids"])
        assert list(model.generate(prompt, len(new), stop_at_eot=False)) == new


def test_real_vocabulary_checkpoint_round_trips_text(exported: Exported) -> None:
    model = load_model(exported, "tiny-vocab")
    for case in cases("tiny-vocab", "greedy"):
        prompt_ids = model.tokenizer.encode(str(case["prompt_text"]))
        assert prompt_ids == ints(case["prompt_ids"])
        new = list(model.generate(prompt_ids, len(ints(case["new_ids"])), stop_at_eot=False))
        assert model.tokenizer.decode(new) == case["new_text"]


# Compact storage holds the same float32 numbers as exact and computes in float64; packed is
# fixed point (bench/packed_accuracy.py measured at most 7e-7 on these checkpoints).
@pytest.mark.parametrize(("storage", "bound"), [("reference", 1e-9), ("compact", 1e-9), ("packed", 1e-5)])
@pytest.mark.parametrize("name", CHECKPOINT_NAMES)
def test_other_storages_stay_close_to_exact(exported: Exported, name: str, storage: Storage, bound: float) -> None:
    case = max(cases(name, "logits"), key=lambda c: len(ints(c["ids"])))
    ids = ints(case["ids"])
    exact = load_model(exported, name, "exact").logits(ids)
    other = load_model(exported, name, storage).logits(ids)
    worst = max(abs(a - b) for r1, r2 in zip(exact, other) for a, b in zip(r1, r2))
    assert worst < bound


@pytest.mark.parametrize("storage", ["exact", "compact", "packed"])
def test_jobs_give_identical_results(exported: Exported, storage: Storage) -> None:
    """Split across 3 processes, every logit is the very same float as in one process."""
    name = "tiny-prefixed"
    case = max(cases(name, "logits"), key=lambda c: len(ints(c["ids"])))
    ids = ints(case["ids"])
    single = load_model(exported, name, storage)
    split = load(exported.folder(name), storage=storage, jobs=3)
    try:
        assert split.logits(ids) == single.logits(ids)
        prompt = ints(cases(name, "greedy")[0]["prompt_ids"])
        assert list(split.generate(prompt, 10, stop_at_eot=False)) == list(single.generate(prompt, 10, stop_at_eot=False))
        # The tied embedding is read back a row at a time from whichever process holds it.
        assert split.params.wte.lookup([95], ONE).rows == single.params.wte.lookup([95], ONE).rows
    finally:
        split.close()
