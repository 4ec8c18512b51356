"""train.py: AdamW against PyTorch's trajectory, weight decay groups, clipping, the schedule, the
gradient check, updates the model really sees, and optimizer state that resumes exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import potatogpt
from helpers import GRADIENT_CASES, batch_of, gradient_reference as reference
from potatogpt import backward, train
from potatogpt.config import GPT2Config
from potatogpt.model import Params
from potatogpt.weights.catalogue import tensor_names

CASES = GRADIENT_CASES


def run_of(ref: dict[str, object], key: str) -> dict[str, object]:
    run = ref[key]
    assert isinstance(run, dict)
    return run


def floats(value: object) -> list[float]:
    assert isinstance(value, list)
    return [float(v) for v in value]


def optimizer(params: Params, run: dict[str, object]) -> train.AdamW:
    betas = floats(run["betas"])
    return train.AdamW(params, lr=float(str(run["lr"])), betas=(betas[0], betas[1]), eps=float(str(run["eps"])),
                       weight_decay=float(str(run["weight_decay"])))


# --- Following PyTorch ------------------------------------------------------------------------------
@pytest.mark.parametrize("storage", ["reference", "exact"])
@pytest.mark.parametrize("name", CASES)
def test_ten_adamw_steps_follow_pytorch(folders: dict[str, Path], name: str, storage: potatogpt.api.Storage) -> None:
    ref = reference(name)
    run = run_of(ref, "adamw")
    gpt = potatogpt.load(folders[name], storage=storage)
    batch = batch_of(ref)
    opt = optimizer(gpt.params, run)
    losses = []
    for _ in range(int(str(run["steps"]))):
        loss, grads = train.loss_and_gradients(gpt.params, batch, gpt.config)
        losses.append(loss)
        opt.step(grads)
    losses.append(train.loss(gpt.params, batch, gpt.config))
    expected = floats(run["losses"])
    assert len(losses) == len(expected) == 11
    assert max(abs(a - b) for a, b in zip(losses, expected)) <= 1e-9, (losses, expected)
    assert expected[-1] < expected[0] - 1.0  # (the run really learns: a trajectory worth following)


@pytest.mark.parametrize("name", CASES)
def test_clipping_and_schedule_follow_pytorch(folders: dict[str, Path], name: str) -> None:
    ref = reference(name)
    run = run_of(ref, "scheduled")
    schedule = run["schedule"]
    assert isinstance(schedule, dict)
    gpt = potatogpt.load(folders[name])
    batch = batch_of(ref)
    opt = optimizer(gpt.params, run)
    losses, norms, rates = [], [], []
    for step in range(int(str(run["steps"]))):
        loss, grads = train.loss_and_gradients(gpt.params, batch, gpt.config)
        losses.append(loss)
        norms.append(train.clip_gradients(grads, float(str(run["grad_clip"]))))
        opt.lr = train.learning_rate(step, max_lr=schedule["max_lr"], min_lr=schedule["min_lr"],
                                     warmup_steps=schedule["warmup_steps"], decay_steps=schedule["decay_steps"])
        rates.append(opt.lr)
        opt.step(grads)
    losses.append(train.loss(gpt.params, batch, gpt.config))
    assert rates == floats(run["lrs"])
    assert max(abs(a - b) / b for a, b in zip(norms, floats(run["grad_norms"]))) <= 1e-9
    assert any(n > float(str(run["grad_clip"])) for n in norms)  # (clipping did happen)
    assert max(abs(a - b) for a, b in zip(losses, floats(run["losses"]))) <= 1e-9


# --- The pieces, by hand -----------------------------------------------------------------------------
def test_schedule_values_worked_by_hand() -> None:
    def lr(step: int) -> float:
        return train.learning_rate(step, max_lr=6e-4, min_lr=6e-5, warmup_steps=10, decay_steps=110)

    assert lr(0) == pytest.approx(6e-4 / 11)  # warmup: max_lr * (step + 1) / (warmup + 1)
    assert lr(4) == pytest.approx(6e-4 * 5 / 11)
    assert lr(9) == pytest.approx(6e-4 * 10 / 11)
    assert lr(10) == pytest.approx(6e-4)  # the cosine starts at the top
    assert lr(35) == pytest.approx(6e-5 + 0.5 * (1 + math.cos(math.pi / 4)) * 5.4e-4)  # a quarter of the way
    assert lr(60) == pytest.approx(3.3e-4)  # half way: the mean of max and min
    assert lr(110) == pytest.approx(6e-5)
    assert lr(111) == lr(5000) == 6e-5  # the floor


def tiny_config() -> GPT2Config:
    return GPT2Config(n_layer=1, n_head=2, n_embd=4, n_ctx=4, vocab_size=5)


def test_clipping_worked_by_hand() -> None:
    params = train.init_params(tiny_config())
    grads = backward.zero_gradients(params)
    grads.h[0].ln_1.bias.rows[0][1] = 3.0
    grads.wte.T.columns[2][0] = -4.0  # norm 5
    assert train.gradient_norm(grads) == 5.0
    assert train.clip_gradients(grads, 10.0) == 5.0
    assert grads.h[0].ln_1.bias.rows[0][1] == 3.0  # below the limit: untouched
    assert train.clip_gradients(grads, 1.0) == 5.0
    assert grads.h[0].ln_1.bias.rows[0][1] == pytest.approx(3.0 / (5.0 + 1e-6), rel=1e-15)
    assert grads.wte.T.columns[2][0] == pytest.approx(-4.0 / (5.0 + 1e-6), rel=1e-15)
    assert train.gradient_norm(grads) == pytest.approx(1.0, abs=1e-6)


def test_one_adamw_step_worked_by_hand() -> None:
    """From zero moments, step 1: m = (1 - b1) g, v = (1 - b2) g^2, and the bias corrections make
    the update -lr * g / (|g| + eps), after the decay p * (1 - lr * wd) on matrices only."""
    params = train.init_params(tiny_config(), seed=3)
    grads = backward.zero_gradients(params)
    grads.h[0].attn.c_attn.weight.columns[1][2] = 0.5
    grads.h[0].attn.c_attn.bias.rows[0][1] = -2.0
    before = {p.name: p.read() for p in train.parameters(params)}
    lr, wd, eps = 0.1, 0.5, 1e-8
    train.AdamW(params, lr=lr, betas=(0.9, 0.95), eps=eps, weight_decay=wd).step(grads)
    after = {p.name: p.read() for p in train.parameters(params)}
    w_index = 1 * 4 + 2  # column 1, entry 2 of a weight with 4 inputs
    assert after["h.0.attn.c_attn.weight"][w_index] == pytest.approx(
        before["h.0.attn.c_attn.weight"][w_index] * (1 - lr * wd) - lr * 0.5 / (0.5 + eps), rel=1e-12)
    assert after["h.0.attn.c_attn.bias"][1] == pytest.approx(lr * 2.0 / (2.0 + eps), rel=1e-12)  # bias 0 + update
    # Everything with a zero gradient only decays (matrices) or stays put (biases, layer norms).
    assert after["h.0.mlp.c_fc.weight"] == pytest.approx([v * (1 - lr * wd) for v in before["h.0.mlp.c_fc.weight"]])
    assert after["h.0.ln_2.weight"] == before["h.0.ln_2.weight"]


def test_weight_decay_groups() -> None:
    """nanoGPT's groups: matrices and embeddings decay, biases and layer-norm parameters don't."""
    params = train.init_params(tiny_config(), seed=4)
    for p in train.parameters(params):  # nonzero everywhere, so decay would show
        p.write([0.5] * len(p.read()))
    train.AdamW(params, lr=0.1, weight_decay=0.5).step(backward.zero_gradients(params))
    decayed = {p.name for p in train.parameters(params) if p.read() == [0.5 * (1 - 0.05)] * len(p.read())}
    kept = {p.name for p in train.parameters(params) if p.read() == [0.5] * len(p.read())}
    assert decayed == {"wte.weight", "wpe.weight", "h.0.attn.c_attn.weight", "h.0.attn.c_proj.weight",
                       "h.0.mlp.c_fc.weight", "h.0.mlp.c_proj.weight"}
    assert kept == set(tensor_names(tiny_config())) - decayed


# --- The model sees the update --------------------------------------------------------------------------
def test_after_a_step_the_model_computes_with_the_new_weights(folders: dict[str, Path]) -> None:
    """An exact-storage model multiplies by float tuples with precomputed norms: a step must rebuild
    them.  The logits after a step must be those of a plain model holding the new numbers."""
    ref = reference("tiny")
    gpt = potatogpt.load(folders["tiny"])
    prompt = [5, 17, 3, 40]
    before = gpt.next_token_logits(prompt)
    opt = train.AdamW(gpt.params, lr=1e-2)
    _loss, grads = train.loss_and_gradients(gpt.params, batch_of(ref), gpt.config)
    opt.step(grads)
    after = gpt.next_token_logits(prompt)
    assert max(abs(a - b) for a, b in zip(after, before)) > 1e-3
    plain = potatogpt.load(folders["tiny"], storage="reference")
    for target, source in zip(train.parameters(plain.params), train.parameters(gpt.params)):
        target.write(source.read())
    assert after == pytest.approx(plain.next_token_logits(prompt), rel=1e-12, abs=1e-12)
    assert list(gpt.generate(prompt, 5)) == list(plain.generate(prompt, 5))
    assert gpt.logits(prompt)[-1] == pytest.approx(after, rel=1e-12, abs=1e-12)


def test_storages_an_update_would_round_are_refused(folders: dict[str, Path]) -> None:
    for storage in ("compact", "packed"):
        gpt = potatogpt.load(folders["tiny"], storage=storage)
        with pytest.raises(ValueError, match="cannot train weights held as .*storage='exact'"):
            train.AdamW(gpt.params)


def test_optimizer_state_resumes_exactly(folders: dict[str, Path]) -> None:
    ref = reference("tiny")
    batch = batch_of(ref)

    def steps(gpt: potatogpt.GPT2, opt: train.AdamW, n: int) -> list[float]:
        out = []
        for _ in range(n):
            loss, grads = train.loss_and_gradients(gpt.params, batch, gpt.config)
            opt.step(grads)
            out.append(loss)
        return out

    straight = potatogpt.load(folders["tiny"])
    opt = train.AdamW(straight.params, lr=1e-2)
    steps(straight, opt, 3)
    saved_state = json.loads(json.dumps(opt.state()))
    saved_params = json.loads(json.dumps({p.name: p.read() for p in train.parameters(straight.params)}))
    uninterrupted = steps(straight, opt, 3)

    resumed = potatogpt.load(folders["tiny"])
    for p in train.parameters(resumed.params):
        p.write(saved_params[p.name])
    opt2 = train.AdamW(resumed.params, lr=1e-2)
    opt2.load_state(saved_state)
    assert opt2.steps == 3
    assert steps(resumed, opt2, 3) == uninterrupted  # to the last bit


def test_bad_optimizer_state_is_one_line(folders: dict[str, Path]) -> None:
    gpt = potatogpt.load(folders["tiny"])
    opt = train.AdamW(gpt.params)
    good = opt.state()
    with pytest.raises(ValueError, match="'step'"):
        opt.load_state({**good, "step": -1})
    with pytest.raises(ValueError, match="exp_avg"):
        opt.load_state({**good, "exp_avg": {"wte.weight": [0.0]}})
    table = dict(good["exp_avg_sq"])  # type: ignore[call-overload]  # (a dict, from state())
    table["wpe.weight"] = [0.0, "x"]
    with pytest.raises(ValueError, match=r"exp_avg_sq\['wpe.weight'\]"):
        opt.load_state({**good, "exp_avg_sq": table})


# --- The gradient check ---------------------------------------------------------------------------------
def test_gradient_check_agrees_on_every_tensor(folders: dict[str, Path]) -> None:
    gpt = potatogpt.load(folders["tiny-eps"])
    batch = batch_of(reference("tiny-eps"))
    checks = train.gradient_check(gpt.params, batch, gpt.config, per_tensor=2, seed=1)
    assert {c.name for c in checks} == set(tensor_names(gpt.config))
    worst = max(checks, key=lambda c: c.error)
    assert worst.error < 1e-5, worst
    assert sum(abs(c.analytic) > 1e-6 for c in checks) > len(checks) // 2  # (mostly nonzero coordinates)


def test_gradient_check_catches_a_wrong_backward(folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """GELU's slope taken as 1 (a classic slip): the check must see it."""
    gpt = potatogpt.load(folders["tiny"])
    monkeypatch.setattr(backward, "gelu_backward", lambda dy, x: dy)
    checks = train.gradient_check(gpt.params, [[1, 2, 3, 4, 5]], gpt.config, per_tensor=2)
    assert max(c.error for c in checks if c.name.startswith("h.")) > 1e-2


def test_gradient_check_leaves_the_parameters_as_they_were(folders: dict[str, Path]) -> None:
    gpt = potatogpt.load(folders["tiny"])
    before = {p.name: p.read() for p in train.parameters(gpt.params)}
    logits = gpt.next_token_logits([1, 2, 3])
    train.gradient_check(gpt.params, [[1, 2, 3]], gpt.config, per_tensor=1)
    assert {p.name: p.read() for p in train.parameters(gpt.params)} == before
    assert gpt.next_token_logits([1, 2, 3]) == logits


# --- The API's edges ---------------------------------------------------------------------------------------
def test_named_gradients_follow_the_manifest(folders: dict[str, Path]) -> None:
    gpt = potatogpt.load(folders["tiny"])
    _loss, grads = train.loss_and_gradients(gpt.params, [[1, 2, 3]], gpt.config)
    named = train.named_gradients(grads)
    manifest = json.loads((folders["tiny"] / "manifest.json").read_text(encoding="utf-8"))
    assert list(named) == [t["name"] for t in manifest["tensors"]]
    assert [len(v) for v in named.values()] == [math.prod(t["shape"]) for t in manifest["tensors"]]


def test_loss_alone_equals_the_loss_with_gradients(folders: dict[str, Path]) -> None:
    gpt = potatogpt.load(folders["tiny"])
    batch = batch_of(reference("tiny"))
    assert train.loss(gpt.params, batch, gpt.config) == train.loss_and_gradients(gpt.params, batch, gpt.config)[0]


@pytest.mark.parametrize(("batch", "message"), [
    ([], "the batch is empty"),
    ([[1]], "at least 2"),
    ([[1, 2, 3], [1, 2]], "row 1 has 2 ids but row 0 has 3"),
    ([[1, 2, 64]], "token id 64 is outside the vocabulary"),
    ([list(range(34))], "more than the model's context of 32"),
])
def test_bad_batches_are_one_line(folders: dict[str, Path], batch: list[list[int]], message: str) -> None:
    gpt = potatogpt.load(folders["tiny"])
    with pytest.raises(ValueError, match=message):
        train.loss_and_gradients(gpt.params, batch, gpt.config)


def test_init_params_has_gpt2s_initialisation() -> None:
    config = GPT2Config(n_layer=2, n_head=2, n_embd=32, n_ctx=8, vocab_size=50)
    params = train.init_params(config, seed=0)
    named = {p.name: p.read() for p in train.parameters(params)}
    assert list(named) == tensor_names(config)

    def std(values: list[float]) -> float:
        return math.sqrt(sum(v * v for v in values) / len(values))

    assert std(named["h.0.mlp.c_fc.weight"]) == pytest.approx(0.02, rel=0.05)
    assert std(named["h.1.mlp.c_proj.weight"]) == pytest.approx(0.02 / math.sqrt(4), rel=0.05)
    assert named["h.0.ln_1.weight"] == [1.0] * 32 and named["h.0.attn.c_attn.bias"] == [0.0] * 96
    assert train.init_params(config, seed=0).wte.T.column(7) == params.wte.T.column(7)  # seeded


def test_big_tensors_keep_their_moments_as_arrays_with_the_same_numbers(folders: dict[str, Path],
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    batch = batch_of(reference("tiny"))

    def run() -> tuple[list[float], train.AdamW]:
        gpt = potatogpt.load(folders["tiny"])
        opt = train.AdamW(gpt.params, lr=1e-2)
        for _ in range(3):
            _loss, grads = train.loss_and_gradients(gpt.params, batch, gpt.config)
            opt.step(grads)
        return train.parameters(gpt.params)[0].read(), opt

    as_lists, opt_lists = run()
    monkeypatch.setattr(train, "LARGE_TENSOR", 500)  # wte (1024 numbers) and wpe (512) count as big
    as_arrays, opt_arrays = run()
    assert type(opt_arrays.exp_avg["wte.weight"]).__name__ == "array" and type(opt_lists.exp_avg["wte.weight"]) is list
    assert isinstance(opt_arrays.exp_avg_sq["h.0.ln_1.bias"], list)
    assert as_arrays == as_lists
    assert opt_arrays.state() == opt_lists.state()
