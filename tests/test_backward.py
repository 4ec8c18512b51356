"""The backward pass against PyTorch's autograd, against finite differences, and fast against plain.

The references (tests/fixtures/gradients/, written by make_gradient_references.py) hold PyTorch's
float64 loss and the gradient of every parameter for a batch of several rows on the committed tiny
checkpoints; every tensor must agree to 1e-9 relative to its largest entry.  The per-stage tests
check each backward function against central differences of the model.py stage it undoes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

import potatogpt
from helpers import GRADIENT_CASES, batch_of, gradient_reference as reference, random_rows
from potatogpt import backward, model, train
from potatogpt.fast import training as fast_training
from potatogpt.api import Storage
from potatogpt.model import LayerNorm, Linear
from potatogpt.tensor import (
    ONE,
    Ctx,
    Embed,
    HeadDim,
    Hidden,
    Seq,
    ShapeError,
    Tensor,
    Vocab,
    Weight,
    from_rows,
    weight_from_rows,
    weight_from_tensor,
)
from potatogpt.weights.catalogue import tensor_names

CASES = GRADIENT_CASES
TOLERANCE = 1e-9

R = TypeVar("R", bound=int)
C = TypeVar("C", bound=int)


def relative_error(ours: list[float], theirs: list[float]) -> float:
    """max |ours - theirs| / max |theirs|: one number per tensor."""
    assert len(ours) == len(theirs)
    return max(abs(a - b) for a, b in zip(ours, theirs)) / max(abs(b) for b in theirs)


# --- The whole backward pass against PyTorch ------------------------------------------------------
@pytest.mark.parametrize("storage", ["reference", "exact"])
@pytest.mark.parametrize("name", CASES)
def test_loss_and_every_gradient_match_pytorch(folders: dict[str, Path], name: str, storage: Storage) -> None:
    ref = reference(name)
    gpt = potatogpt.load(folders[name], storage=storage)
    batch = batch_of(ref)
    assert len(batch) >= 2  # several rows, summed into one gradient
    loss, grads = train.loss_and_gradients(gpt.params, batch, gpt.config)
    assert loss == pytest.approx(ref["loss"], rel=TOLERANCE, abs=0)
    ours = train.named_gradients(grads)
    theirs = ref["gradients"]
    assert isinstance(theirs, dict)
    assert list(ours) == tensor_names(gpt.config)  # every tensor, in manifest.json's order
    assert sorted(theirs) == sorted(ours)
    errors = {tensor: relative_error(ours[tensor], theirs[tensor]) for tensor in ours}
    assert max(errors.values()) <= TOLERANCE, {k: v for k, v in errors.items() if v > TOLERANCE}


def test_gradients_are_typed_like_the_parameters(folders: dict[str, Path]) -> None:
    gpt = potatogpt.load(folders["tiny"])
    _loss, grads = train.loss_and_gradients(gpt.params, batch_of(reference("tiny")), gpt.config)
    assert type(grads) is type(gpt.params)
    for p, g in zip(gpt.params.h, grads.h):
        assert isinstance(g.attn.c_attn, Linear) and g.attn.c_attn.weight.shape == p.attn.c_attn.weight.shape
        assert g.attn.c_attn.bias.shape == p.attn.c_attn.bias.shape
        assert g.mlp.c_proj.weight.shape == p.mlp.c_proj.weight.shape
    assert grads.wte.shape == gpt.params.wte.shape and grads.wpe.shape == gpt.params.wpe.shape


def test_the_tied_embedding_gets_both_of_its_gradients(folders: dict[str, Path]) -> None:
    """wte is looked up by embed and multiplied by in lm_head: its gradient is the sum of the two,
    which PyTorch gives apart when the output layer is a separate copy."""
    ref = reference("tiny")
    parts = ref["wte_parts"]
    assert isinstance(parts, dict)
    lookup, output = parts["lookup"], parts["output"]
    gpt = potatogpt.load(folders["tiny"])
    _loss, grads = train.loss_and_gradients(gpt.params, batch_of(ref), gpt.config)
    ours = train.named_gradients(grads)["wte.weight"]
    assert relative_error(ours, [a + b for a, b in zip(lookup, output)]) <= TOLERANCE
    # Either half alone is far off: both really are in the sum.
    assert relative_error(ours, lookup) > 0.1 and relative_error(ours, output) > 0.1


def test_plain_and_fast_products_give_the_same_gradients(folders: dict[str, Path]) -> None:
    """storage="reference" runs backward.py as written; "exact" puts its products on the kernel."""
    batch = batch_of(reference("tiny"))
    plain = potatogpt.load(folders["tiny"], storage="reference")
    fast = potatogpt.load(folders["tiny"], storage="exact")
    loss_plain, grads_plain = train.loss_and_gradients(plain.params, batch, plain.config)
    loss_fast, grads_fast = train.loss_and_gradients(fast.params, batch, fast.config)
    assert loss_fast == pytest.approx(loss_plain, rel=1e-14)
    named_plain, named_fast = train.named_gradients(grads_plain), train.named_gradients(grads_fast)
    for tensor, values in named_plain.items():
        assert relative_error(named_fast[tensor], values) < 1e-12, tensor
    assert backward.product_backward is not fast_training.product_backward  # put back afterwards


# --- tensor.py's helpers for the backward pass ----------------------------------------------------------
def test_tensor_helpers_for_the_backward_pass() -> None:
    x = from_rows([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], Seq(2), Embed(3))
    assert x.hadamard(x).rows == [[1.0, 4.0, 9.0], [16.0, 25.0, 36.0]]
    assert (x * 2.0).rows == (2.0 * x).rows == [[2.0, 4.0, 6.0], [8.0, 10.0, 12.0]]
    assert x.sum_rows().shape == (1, 3) and x.sum_rows().rows == [[5.0, 7.0, 9.0]]
    w = weight_from_rows([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], Embed(3), Hidden(2))
    assert w.T.shape == (2, 3) and w.T.columns == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert (x @ w.T.T).rows == (x @ w).rows
    as_weight = weight_from_tensor(x)
    assert as_weight.shape == (2, 3) and as_weight.columns == [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    with pytest.raises(ShapeError, match="hadamard"):
        x.hadamard(from_rows([[1.0, 2.0, 3.0]], Seq(1), Embed(3)))


# --- Each stage against central differences of its forward --------------------------------------------
def numeric_gradient(f: Callable[[], float], values: list[float], index: int, h: float = 1e-6) -> float:
    """(f(v + h) - f(v - h)) / 2h for values[index], which is put back afterwards."""
    original = values[index]
    values[index] = original + h
    up = f()
    values[index] = original - h
    down = f()
    values[index] = original
    return (up - down) / (2 * h)


def weighted_sum(t: Tensor[R, C], weights: list[list[float]]) -> float:
    """A loss that is linear in the stage's output: its gradient with respect to the output is `weights`."""
    return sum(a * b for row, w_row in zip(t.rows, weights) for a, b in zip(row, w_row))


def assert_close(analytic: float, numeric: float) -> None:
    assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-8)


def test_gelu_backward() -> None:
    rng = random.Random(1)
    x = random_rows(rng, Seq(3), Hidden(8))
    dy = random_rows(rng, Seq(3), Hidden(8))
    dx = backward.gelu_backward(dy, x)
    for i, j in [(0, 0), (1, 5), (2, 7)]:
        assert_close(dx.rows[i][j], numeric_gradient(lambda: weighted_sum(model.gelu(x), dy.rows), x.rows[i], j))


def test_layer_norm_backward() -> None:
    rng = random.Random(2)
    seq, embed, eps = Seq(3), Embed(6), 1e-2
    x = random_rows(rng, seq, embed)
    ln = LayerNorm(random_rows(rng, ONE, embed), random_rows(rng, ONE, embed))
    dy = random_rows(rng, seq, embed)
    grad = backward.zero_layer_norm(ln)
    dx = backward.layer_norm_backward(dy, x, ln, eps, grad)

    def f() -> float:
        return weighted_sum(model.layer_norm(x, ln, eps), dy.rows)

    for i, j in [(0, 0), (1, 3), (2, 5)]:
        assert_close(dx.rows[i][j], numeric_gradient(f, x.rows[i], j))
    for j in (0, 4):
        assert_close(grad.weight.rows[0][j], numeric_gradient(f, ln.weight.rows[0], j))
        assert_close(grad.bias.rows[0][j], numeric_gradient(f, ln.bias.rows[0], j))


def test_linear_backward_accumulates() -> None:
    rng = random.Random(3)
    seq, embed, hidden = Seq(4), Embed(3), Hidden(5)
    x = random_rows(rng, seq, embed)
    columns = [[rng.gauss(0.0, 1.0) for _ in range(embed)] for _ in range(hidden)]
    layer = Linear(Weight(embed, hidden, columns=columns), random_rows(rng, ONE, hidden))
    dy = random_rows(rng, seq, hidden)
    grad = backward.zero_linear(layer)
    dx = backward.linear_backward(dy, x, layer, grad)

    def f() -> float:
        return weighted_sum(model.linear(x, layer), dy.rows)

    for i, j in [(0, 0), (3, 2)]:
        assert_close(dx.rows[i][j], numeric_gradient(f, x.rows[i], j))
    for i, j in [(0, 0), (2, 4), (1, 3)]:  # W[i][j] is column j, entry i
        assert_close(grad.weight.columns[j][i], numeric_gradient(f, layer.weight.columns[j], i))
    assert_close(grad.bias.rows[0][1], numeric_gradient(f, layer.bias.rows[0], 1))
    # A second call adds to the buffers (the tied embedding and a batch rely on it).
    first = grad.weight.columns[2][1]
    backward.linear_backward(dy, x, layer, grad)
    assert grad.weight.columns[2][1] == pytest.approx(2 * first, rel=1e-15)


def test_attention_weights_backward() -> None:
    rng = random.Random(4)
    seq, head_dim = Seq(3), HeadDim(4)
    q = random_rows(rng, seq, head_dim)
    k_t = Weight(head_dim, Ctx(3), columns=[[rng.gauss(0.0, 1.0) for _ in range(head_dim)] for _ in range(3)])
    dp = random_rows(rng, seq, Ctx(3))
    p = model.attention_weights(q, k_t)
    dq, dk_t = backward.attention_weights_backward(dp, q, k_t, p)

    def f() -> float:
        return weighted_sum(model.attention_weights(q, k_t), dp.rows)

    for i, j in [(0, 0), (1, 2), (2, 3)]:
        assert_close(dq.rows[i][j], numeric_gradient(f, q.rows[i], j))
    for j, i in [(0, 1), (1, 3), (2, 0)]:
        assert_close(dk_t.columns[j][i], numeric_gradient(f, k_t.columns[j], i))
    # The causal mask: query 0 sees only key 0, so key 2 gets nothing from it.
    assert p.rows[0][1:] == [0.0, 0.0]


def test_cross_entropy_and_its_backward() -> None:
    rng = random.Random(5)
    logits = random_rows(rng, Seq(3), Vocab(7))
    targets = [2, 0, 6]
    by_hand = sum(math.log(sum(math.exp(z) for z in row)) - row[t] for row, t in zip(logits.rows, targets)) / 3
    assert backward.cross_entropy(logits.softmax_rows(), targets) == pytest.approx(by_hand, rel=1e-14)
    d = backward.cross_entropy_backward(logits.softmax_rows(), targets, 1.0 / 3)
    for i, j in [(0, 2), (0, 3), (1, 0), (2, 6)]:
        numeric = numeric_gradient(lambda: backward.cross_entropy(logits.softmax_rows(), targets), logits.rows[i], j)
        assert_close(d.rows[i][j], numeric)


def test_a_changed_forward_stage_is_reported_not_differentiated_wrongly(folders: dict[str, Path],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The backward reads the recorded calls in model.py's order; a forward that calls other stages
    (an exercise that swapped one in) must stop with a clear message."""
    gpt = potatogpt.load(folders["tiny"])
    original = model.ffn
    monkeypatch.setattr(model, "ffn", lambda x, mlp: model.linear(original(x, mlp), Linear(
        weight_from_rows([[1.0 if i == j else 0.0 for j in range(x.n_cols)] for i in range(x.n_cols)], x.n_cols, x.n_cols),
        from_rows([[0.0] * x.n_cols], ONE, x.n_cols))))
    with pytest.raises(RuntimeError, match="model.ffn called"):
        train.loss_and_gradients(gpt.params, [[1, 2, 3]], gpt.config)
