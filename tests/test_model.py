"""The forward pass (model.py): GELU by its formula, the KV cache against a full recompute, and
potatogpt against Hugging Face transformers on the committed random-weight checkpoints.

checkpoints/make_checkpoints.py ran transformers once and stored its logits and greedy
continuations in each checkpoint's reference.json; here the exported checkpoints must
reproduce them: logits within 1e-4, greedy tokens identical.
"""

from __future__ import annotations

import math
from typing import cast

import pytest

from helpers import CHECKPOINT_NAMES, Exported, ints, load_exported, reference_cases
from potatogpt.api import GPT2, Storage
from potatogpt.model import gelu
from potatogpt.tensor import Hidden, Seq, from_rows


# --- The pieces, on random in-memory weights (conftest.py's `model`) --------------------------
def test_gelu_is_gpt2s_tanh_approximation() -> None:
    x = from_rows([[0.0, 1.0, -1.0, 3.0]], Seq(1), Hidden(4))
    # torch.nn.functional.gelu(x, approximate="tanh") in float64 gives:
    expected = [0.0, 0.8411919906082768, -0.15880800939172324, 2.996362607918227]
    assert gelu(x).rows[0] == pytest.approx(expected, abs=1e-12)


def test_kv_cache_gives_the_same_logits_as_a_full_recompute(model: GPT2) -> None:
    ids = [15496, 995, 11, 314, 716, 257, 1332]
    full = model.logits(ids)  # every position in one batch, no cache reuse
    cache = model.new_kv_cache()
    stepwise = [model.forward(ids[:3], cache)]  # a 3-token prompt, then one token at a time
    stepwise += [model.forward([token], cache) for token in ids[3:]]
    for row, logits in zip(full[2:], stepwise):
        assert max(abs(a - b) for a, b in zip(row, logits)) < 1e-9
    assert cache.length == len(ids)


def test_logits_are_finite(model: GPT2) -> None:
    assert all(math.isfinite(v) for v in model.next_token_logits([50256]))


# --- Against transformers (checkpoints/*/reference.json) --------------------------------------
TOLERANCE = 1e-4
STORAGES: list[Storage] = ["reference", "exact", "compact", "packed"]


def test_every_checkpoint_is_covered() -> None:
    assert {"tiny", "tiny-prefixed", "tiny-f16", "tiny-bf16", "tiny-vocab", "tiny-eps"} <= set(CHECKPOINT_NAMES)


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("name", CHECKPOINT_NAMES)
def test_logits_match_transformers(exported: Exported, name: str, storage: Storage) -> None:
    model = load_exported(exported, name, storage)
    n_ctx = model.config.n_ctx
    lengths = set()
    for case in reference_cases(name, "logits"):
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
    model = load_exported(exported, name)
    case = max(reference_cases(name, "logits"), key=lambda c: len(ints(c["ids"])))
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
    model = load_exported(exported, name, storage)
    for case in reference_cases(name, "greedy"):
        prompt, new = ints(case["prompt_ids"]), ints(case["new_ids"])
        assert list(model.generate(prompt, len(new), stop_at_eot=False)) == new


def test_real_vocabulary_checkpoint_round_trips_text(exported: Exported) -> None:
    model = load_exported(exported, "tiny-vocab")
    for case in reference_cases("tiny-vocab", "greedy"):
        prompt_ids = model.tokenizer.encode(str(case["prompt_text"]))
        assert prompt_ids == ints(case["prompt_ids"])
        new = list(model.generate(prompt_ids, len(ints(case["new_ids"])), stop_at_eot=False))
        assert model.tokenizer.decode(new) == case["new_text"]
