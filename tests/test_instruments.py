"""The instruments' numbers against transformers, and their mechanics (tests/fixtures/*/instruments.json)."""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import pytest

from helpers import CHECKPOINTS, CHECKPOINT_NAMES, Exported
import potatogpt
from potatogpt import instruments, model as gpt2_model
from potatogpt.api import GPT2, ContextError
from potatogpt.instruments import Setting, attention_patterns, logit_lens, record, sampling_lab, trace, type_name
from potatogpt.sampling import Sampler, softmax, top_k_candidates, top_p_candidates
from potatogpt.tokenizer import Tokenizer, merge_steps


def references(name: str) -> dict[str, Any]:
    data = json.loads((CHECKPOINTS / name / "instruments.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module", params=CHECKPOINT_NAMES)
def checkpoint(request: pytest.FixtureRequest, exported: Exported) -> tuple[GPT2, dict[str, Any]]:
    name = str(request.param)
    return potatogpt.load(exported.folder(name)), references(name)


# --- Against transformers -----------------------------------------------------------------------
def test_score_matches_transformers_loss_and_log_probs(checkpoint: tuple[GPT2, dict[str, Any]]) -> None:
    model, ref = checkpoint
    for case in ref["score"]:
        log_probs = model.score(case["ids"])
        assert len(log_probs) == len(case["ids"]) - 1
        for ours, theirs in zip(log_probs, case["log_probs"]):
            assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-6)
        mean_nll = -sum(log_probs) / len(log_probs)
        assert mean_nll == pytest.approx(case["loss"], rel=1e-6)  # perplexity is exp of this


def test_attention_matches_transformers_output_attentions(checkpoint: tuple[GPT2, dict[str, Any]]) -> None:
    model, ref = checkpoint
    case = ref["attention"]
    patterns = attention_patterns(model, case["ids"])
    assert len(patterns) == model.config.n_layer and all(len(layer) == model.config.n_head for layer in patterns)
    for layer, theirs_layer in zip(patterns, case["weights"]):
        for head, theirs in zip(layer, theirs_layer):
            assert head.shape == (len(case["ids"]), len(case["ids"]))
            for row, their_row in zip(head.rows, theirs):
                assert row == pytest.approx(their_row, abs=1e-6)


def test_logit_lens_matches_transformers_hidden_states(checkpoint: tuple[GPT2, dict[str, Any]]) -> None:
    model, ref = checkpoint
    case = ref["lens"]
    rows = logit_lens(model, case["ids"])
    assert [row.label for row in rows] == ["embed", *(f"block {i}" for i in range(model.config.n_layer))]
    assert len(rows) == len(case["rows"])
    for row, theirs in zip(rows, case["rows"]):
        assert row.residual == pytest.approx(theirs["residual"], rel=1e-5, abs=1e-5)
        top = top_k_candidates(row.logits, len(theirs["top_ids"]))
        assert [row.logits[i] for i in top] == pytest.approx(theirs["top_logits"], rel=1e-5, abs=1e-5)
        assert [row.logits[i] for i in theirs["top_ids"]] == pytest.approx(theirs["top_logits"], rel=1e-5, abs=1e-5)
    # The last row is the model's own output.
    assert rows[-1].logits == model.next_token_logits(case["ids"])


# --- Recording ----------------------------------------------------------------------------------
def test_recording_puts_the_stages_back(exported: Exported) -> None:
    model = potatogpt.load(exported.folder("tiny"))
    originals = {stage: getattr(gpt2_model, stage) for stage in instruments.STAGES}
    with record() as calls:
        assert all(getattr(gpt2_model, stage) is not originals[stage] for stage in instruments.STAGES)
        logits = model.next_token_logits([1, 2, 3])
    assert {stage: getattr(gpt2_model, stage) for stage in instruments.STAGES} == originals
    assert calls and logits == model.next_token_logits([1, 2, 3])  # recording changes no number
    with pytest.raises(RuntimeError), record():
        raise RuntimeError("a failing forward pass")
    assert {stage: getattr(gpt2_model, stage) for stage in instruments.STAGES} == originals


def test_recorded_calls_nest_like_the_forward_pass(exported: Exported) -> None:
    model = potatogpt.load(exported.folder("tiny"))  # 2 layers, 2 heads
    with record(["transformer_block", "mha", "attention_weights"]) as calls:
        model.next_token_logits([1, 2, 3])
    assert [c.stage for c in calls] == ["transformer_block"] * 2
    assert [[c.stage for c in block.inner] for block in calls] == [["mha"]] * 2
    assert [c.stage for c in calls[0].inner[0].inner] == ["attention_weights"] * 2


# --- Trace --------------------------------------------------------------------------------------
def test_trace_fills_type_variables_from_the_annotations(exported: Exported) -> None:
    model = potatogpt.load(exported.folder("tiny"))
    prompt, decode = trace(model, [1, 2, 3, 4, 5])
    linears = [c for c in instruments.walk(prompt.calls) if c.stage == "linear"][:4]
    assert [type_name(prompt.types[id(c)]["layer"]) for c in linears] == [
        "Linear[Embed, Qkv]", "Linear[Embed, Embed]", "Linear[Embed, Hidden]", "Linear[Hidden, Embed]"]
    assert [type_name(prompt.types[id(c)]["return"]) for c in linears] == [
        "Tensor[Seq, Qkv]", "Tensor[Seq, Embed]", "Tensor[Seq, Hidden]", "Tensor[Seq, Embed]"]
    layer_norms = {type_name(prompt.types[id(c)]["x"]) for c in instruments.walk(prompt.calls) if c.stage == "layer_norm"}
    assert layer_norms == {"Tensor[Seq, Embed]", "Tensor[One, Embed]"}  # in the blocks, and in lm_head
    # Shapes are taken when the call happens: the cache keeps growing afterwards.
    scores = [c for c in instruments.walk(decode.calls) if c.stage == "attention_weights"]
    assert {c.shapes["k_t"] for c in scores} == {(8, 6)} and {c.shapes["return"] for c in scores} == {(1, 6)}
    first = next(c for c in instruments.walk(prompt.calls) if c.stage == "attention_weights")
    assert first.shapes["k_t"] == (8, 5)


def test_trace_refuses_what_does_not_fit(exported: Exported) -> None:
    model = potatogpt.load(exported.folder("tiny"))
    with pytest.raises(ValueError, match="nothing to trace"):
        trace(model, [])
    with pytest.raises(ContextError):
        trace(model, [1] * model.config.n_ctx)  # no room for the decode step


def test_type_names_are_the_codes_own() -> None:
    from potatogpt.tensor import Embed, Seq, Tensor

    assert type_name(Tensor[Seq, Embed]) == "Tensor[Seq, Embed]"
    assert type_name(gpt2_model.R) == "R"  # a variable nothing pinned down is shown as itself


# --- Tokens -------------------------------------------------------------------------------------
def test_merge_steps_end_where_bpe_and_encode_end() -> None:
    tokenizer = Tokenizer.gpt2()
    for text in ["Hello, Karpathy 🤗", " antidisestablishmentarianism", "naïve café 東京", "  x\n\n", "\udcff lone"]:
        for word in instruments.explain_tokens(tokenizer, text):
            assert len(word.tokens) == len(word.ids) == len(tokenizer.encode(word.text))
            ranks = [rank for rank, _pair, _parts in word.merges]
            assert ranks == sorted(ranks)  # merges come in the order they were learned
        assert [i for w in instruments.explain_tokens(tokenizer, text) for i in w.ids] == tokenizer.encode(text)
    steps = list(merge_steps(tokenizer, " Karpathy"))
    assert steps[0] == (9, ("a", "t"), ["Ġ", "K", "a", "r", "p", "at", "h", "y"])
    assert steps[-1][2] == ["ĠK", "arp", "athy"]


# --- Sampling lab -------------------------------------------------------------------------------
def test_lab_draws_are_the_samplers_own_choices() -> None:
    logits = [math.sin(i) * 3 for i in range(40)]
    settings = [Setting(1.0), Setting(0.5), Setting(1.0, top_k=5), Setting(1.2, top_p=0.6), Setting(0.0)]
    columns = sampling_lab(logits, settings, draws=60, seed=7)
    for column, s in zip(columns, settings):
        sampler = Sampler(s.temperature, s.top_k, s.top_p, seed=7)
        assert column.counts == Counter(sampler.choose(logits) for _ in range(60))
        assert sum(column.counts.values()) == 60
    probs = softmax(logits, 1.2)
    assert len(columns[3].candidates) == len(top_p_candidates(probs, top_k_candidates(probs, 40), 0.6)) < 40
    assert len(columns[2].candidates) == 5 and len(columns[0].candidates) == 40
    assert list(columns[4].counts) == [max(range(40), key=logits.__getitem__)]


def test_rank_of() -> None:
    logits = [0.0, 2.0, 1.0, 3.0]
    rank, p = instruments.rank_of(logits, 3)
    assert rank == 1 and p == pytest.approx(softmax(logits)[3])
    assert instruments.rank_of(logits, 0)[0] == 4
