"""The model on random in-memory weights: KV cache, generation loop, limits.

Agreement with Hugging Face transformers on real checkpoints is in test_reference.py.
"""

from __future__ import annotations

import math
import random

from pathlib import Path

import pytest

from potatogpt.config import GPT2Config
from potatogpt.api import GPT2, ContextError, load
from potatogpt.model import (
    MLP,
    Attention,
    Block,
    LayerNorm,
    Linear,
    Params,
    gelu,
)
from potatogpt.tensor import ONE, Ctx, Embed, Hidden, Qkv, Seq, Vocab, embedding_from_rows, from_rows, weight_from_rows
from potatogpt.tokenizer import Tokenizer

CONFIG = GPT2Config(n_layer=2, n_head=2, n_embd=8, n_ctx=16, vocab_size=50257)


def random_params(config: GPT2Config, seed: int = 0) -> Params:
    rng = random.Random(seed)

    def matrix(n_rows: int, n_cols: int, scale: float) -> list[list[float]]:
        return [[rng.gauss(0.0, scale) for _ in range(n_cols)] for _ in range(n_rows)]

    embed, hidden, qkv = Embed(config.n_embd), Hidden(4 * config.n_embd), Qkv(3 * config.n_embd)

    def layer_norm() -> LayerNorm:
        return LayerNorm(
            from_rows([[1.0 + g for g in matrix(1, embed, 0.1)[0]]], ONE, embed),
            from_rows(matrix(1, embed, 0.1), ONE, embed),
        )

    def block() -> Block:
        return Block(
            ln_1=layer_norm(),
            attn=Attention(
                c_attn=Linear(weight_from_rows(matrix(embed, qkv, 0.3), embed, qkv), from_rows(matrix(1, qkv, 0.1), ONE, qkv)),
                c_proj=Linear(weight_from_rows(matrix(embed, embed, 0.3), embed, embed), from_rows(matrix(1, embed, 0.1), ONE, embed)),
            ),
            ln_2=layer_norm(),
            mlp=MLP(
                c_fc=Linear(weight_from_rows(matrix(embed, hidden, 0.3), embed, hidden), from_rows(matrix(1, hidden, 0.1), ONE, hidden)),
                c_proj=Linear(weight_from_rows(matrix(hidden, embed, 0.3), hidden, embed), from_rows(matrix(1, embed, 0.1), ONE, embed)),
            ),
        )

    return Params(
        wte=embedding_from_rows(matrix(config.vocab_size, embed, 0.5), Vocab(config.vocab_size), embed),
        wpe=embedding_from_rows(matrix(config.n_ctx, embed, 0.5), Ctx(config.n_ctx), embed),
        h=[block() for _ in range(config.n_layer)],
        ln_f=layer_norm(),
    )


@pytest.fixture(scope="module")
def model() -> GPT2:
    return GPT2(CONFIG, random_params(CONFIG), Tokenizer.gpt2())


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


def test_zero_new_tokens(model: GPT2) -> None:
    assert list(model.generate([1, 2], 0)) == []


def test_logits_are_finite(model: GPT2) -> None:
    assert all(math.isfinite(v) for v in model.next_token_logits([50256]))


def test_unknown_storage_and_reference_with_jobs_are_refused(tmp_path: Path) -> None:
    # Refused before anything is read: the folder need not even exist.
    with pytest.raises(ValueError, match="storage must be one of 'reference', 'exact', 'compact', 'packed', not 'bogus'"):
        load(tmp_path, storage="bogus")  # type: ignore[arg-type]  # deliberately not a Storage
    with pytest.raises(ValueError, match="reference mode runs in one process"):
        load(tmp_path, storage="reference", jobs=2)
