"""Training: the loss and its gradients over a batch, AdamW, clipping, the learning-rate schedule.

    from potatogpt import train
    loss, grads = train.loss_and_gradients(model.params, batch, model.config)
    opt = train.AdamW(model.params, lr=6e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    opt.step(grads)          # model.params now hold the new weights

`batch` is B lists of T + 1 token ids: row[:-1] are fed in, row[1:] are the targets.  The loss is
the mean cross-entropy in nats over the B * T predictions (PyTorch's F.cross_entropy with
reduction "mean"), and `grads` is a `Params` of the same shapes and types holding d loss / d
parameter (backward.py computes it, stage by stage).

The optimizer updates the parameters in place, so every holder of `model.params` (GPT2's
next_token_logits, generate, the instruments) sees the new weights.  That works for the two
storages whose numbers are float64: "reference" (plain columns, overwritten) and "exact" (the
default: its fast layout of float tuples is rebuilt from the new numbers after every step, so the
faster product can never multiply by stale weights).  "compact" and "packed" hold float32 or
quantized numbers that an update would round away, and --jobs keeps weights in other processes:
AdamW refuses those, in one line, when it is made.

Tensors are named as in manifest.json (`wte.weight`, `h.0.attn.c_attn.weight`, ...) and flattened
in their file's order: matrices [out, in], i.e. one Weight column after another.

Dropout is not implemented: model.py's forward pass has none (inference needs none), and adding it
would mean changing model.py or keeping a second forward pass.  The recipes this follows train
without it: nanoGPT's default is dropout = 0.0 ("for pretraining 0 is good"), and llm.c's
train_gpt2.c has none.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import chain, repeat
from operator import mul
from typing import TypeAlias, TypeVar

from . import backward
from . import model
from .config import GPT2Config
from .fast.storage import fast_weight
from .fast.training import columns_of, cycle_collector_paused, fast_products, rewrite_exact, storage_of
from .model import MLP, Attention, Block, LayerNorm, Linear, Params
from .tensor import (ONE, Ctx, Embed, Embedding, Hidden, One, Qkv, Tensor, Vocab, Weight, from_rows,
                     weight_from_flat, zeros)

I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)

Batch = Sequence[Sequence[int]]


# --- Loss and gradients ---------------------------------------------------------------------------
def check_batch(batch: Batch, config: GPT2Config) -> int:
    """T, the number of predictions per row, after checking every row; else a one-line ValueError."""
    if not batch:
        raise ValueError("the batch is empty: give at least one row of token ids")
    width = len(batch[0])
    for i, row in enumerate(batch):
        if len(row) != width:
            raise ValueError(f"batch row {i} has {len(row)} ids but row 0 has {width}: every row needs the same length")
        for token in row:
            if not (isinstance(token, int) and 0 <= token < config.vocab_size):
                raise ValueError(f"batch row {i}: token id {token!r} is outside the vocabulary (0 .. {config.vocab_size - 1})")
    if width < 2:
        raise ValueError(f"batch rows have {width} id(s): a row needs at least 2 (inputs row[:-1], targets row[1:])")
    if width - 1 > config.n_ctx:
        raise ValueError(f"batch rows feed {width - 1} tokens, more than the model's context of {config.n_ctx}")
    return width - 1


def loss_and_gradients(params: Params, batch: Batch, config: GPT2Config) -> tuple[float, Params]:
    """The batch's mean cross-entropy (nats) and its gradient with respect to every parameter.

    The storage of `params` picks how the products are computed, as it does for the forward
    pass: "reference" runs backward.py exactly as written, every product by tensor.py's
    `matmul`; "exact" (the default) runs the backward's products on the fast exact kernel too
    (fast/training.py).  The two agree to rounding (~1e-15)."""
    tokens = check_batch(batch, config)
    grads = backward.zero_gradients(params)
    scale = 1.0 / (len(batch) * tokens)
    total = 0.0
    plain = all(p.storage == "reference" for p in parameters(params))
    with nullcontext() if plain else fast_products(), cycle_collector_paused():
        for row in batch:
            total += backward.row_backward(row[:-1], row[1:], params, grads, config, scale)
    return total / len(batch), grads


def loss(params: Params, batch: Batch, config: GPT2Config) -> float:
    """The same loss, from the forward pass alone (no recording, no gradients)."""
    check_batch(batch, config)
    total = 0.0
    for row in batch:
        hidden = model.hidden_states(row[:-1], params, model.new_kv_cache(config), config)
        total += backward.cross_entropy(model.lm_head(hidden, params, config).softmax_rows(), row[1:])
    return total / len(batch)


# --- The parameters as named flat lists ------------------------------------------------------------
@dataclass(frozen=True)
class Parameter:
    """One tensor of a Params, named as in manifest.json, read and written as the flat list of
    numbers its file holds."""

    name: str
    decay: bool  # AdamW's weight decay applies (matrices and embeddings, not biases or layer norms)
    storage: str  # "reference" (plain lists), "exact" (fast float tuples), or another storage (see api.Storage)
    vectors: Callable[[], Sequence[Sequence[float]]]  # its rows or columns as held (not copied)
    write: Callable[[list[float]], None]

    @property
    def writable(self) -> bool:
        return self.storage in ("reference", "exact")

    def read(self) -> list[float]:
        """The numbers, flat, in the file's order (a new list)."""
        return list(chain.from_iterable(self.vectors()))


def weight_parameter(name: str, weight: Weight[I, O]) -> Parameter:
    """A matrix or an embedding table (as the Weight whose columns are its rows): its columns one
    after another, which is a stored [out, in] matrix's order."""
    storage = storage_of(weight)

    def vectors() -> Sequence[Sequence[float]]:
        return columns_of(weight)  # (exact storage's tuples are read without copying them out)

    def write(flat: list[float]) -> None:
        n = weight.n_in
        if len(flat) != n * weight.n_out:
            raise ValueError(f"{name}: {len(flat)} numbers for a tensor of {n * weight.n_out}")
        if storage == "reference":
            for j, column in enumerate(weight.columns):  # (the Weight's own lists, overwritten)
                column[:] = flat[j * n : (j + 1) * n]
        elif storage == "exact":
            rewrite_exact(weight, flat)
        else:
            raise ValueError(f"{name}: weights held as {storage} cannot be updated (see potatogpt/train.py)")

    return Parameter(name, True, storage, vectors, write)


def row_parameter(name: str, row: Tensor[One, I]) -> Parameter:
    """A bias or a layer norm's gain: one row, plain floats in every storage."""

    def vectors() -> Sequence[Sequence[float]]:
        return row.rows

    def write(flat: list[float]) -> None:
        if len(flat) != row.n_cols:
            raise ValueError(f"{name}: {len(flat)} numbers for a tensor of {row.n_cols}")
        row.rows[0][:] = flat

    return Parameter(name, False, "reference", vectors, write)


def parameters(params: Params) -> list[Parameter]:
    """Every tensor of `params`, in manifest.json's order (weights.tensor_names)."""

    def linear(prefix: str, layer: Linear[I, O]) -> list[Parameter]:
        return [weight_parameter(f"{prefix}.weight", layer.weight), row_parameter(f"{prefix}.bias", layer.bias)]

    found = [weight_parameter("wte.weight", params.wte.T), weight_parameter("wpe.weight", params.wpe.T)]
    for i, block in enumerate(params.h):
        found += [row_parameter(f"h.{i}.ln_1.weight", block.ln_1.weight), row_parameter(f"h.{i}.ln_1.bias", block.ln_1.bias)]
        found += linear(f"h.{i}.attn.c_attn", block.attn.c_attn) + linear(f"h.{i}.attn.c_proj", block.attn.c_proj)
        found += [row_parameter(f"h.{i}.ln_2.weight", block.ln_2.weight), row_parameter(f"h.{i}.ln_2.bias", block.ln_2.bias)]
        found += linear(f"h.{i}.mlp.c_fc", block.mlp.c_fc) + linear(f"h.{i}.mlp.c_proj", block.mlp.c_proj)
    found += [row_parameter("ln_f.weight", params.ln_f.weight), row_parameter("ln_f.bias", params.ln_f.bias)]
    return found


def named_gradients(grads: Params) -> dict[str, list[float]]:
    """{tensor name as in manifest.json: its gradient as a flat list, in that tensor's file order}."""
    return {p.name: p.read() for p in parameters(grads)}


# --- Clipping and the learning-rate schedule ---------------------------------------------------------
def gradient_norm(grads: Params) -> float:
    """The global L2 norm: the square root of the sum of every gradient number squared, taken
    as the norm of the tensors' norms, as torch does (math.hypot: one C loop, no overflow)."""
    return math.hypot(*(math.hypot(*chain.from_iterable(p.vectors())) for p in parameters(grads)))


def clip_gradients(grads: Params, max_norm: float) -> float:
    """Scale all gradients together so that their global norm is at most max_norm (as
    torch.nn.utils.clip_grad_norm_: by max_norm / (norm + 1e-6), when that is below 1).
    Returns the norm before clipping, the number a training log shows."""
    if not max_norm > 0.0:
        raise ValueError(f"max_norm must be a positive number, not {max_norm}")
    norm = gradient_norm(grads)
    factor = max_norm / (norm + 1e-6)
    if factor < 1.0:
        for p in parameters(grads):
            for vector in p.vectors():
                assert isinstance(vector, list)  # (gradients are plain lists: backward.zero_gradients)
                vector[:] = map(mul, vector, repeat(factor))  # every entry times factor
    return norm


def learning_rate(step: int, *, max_lr: float, min_lr: float, warmup_steps: int, decay_steps: int) -> float:
    """nanoGPT's get_lr: a linear warmup over warmup_steps, then a cosine from max_lr down to
    min_lr at step decay_steps, then min_lr.  `step` counts from 0."""
    if step < warmup_steps:
        return max_lr * (step + 1) / (warmup_steps + 1)
    if step > decay_steps:
        return min_lr
    ratio = (step - warmup_steps) / (decay_steps - warmup_steps)
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))  # from 1 down to 0
    return min_lr + coeff * (max_lr - min_lr)


# --- AdamW ------------------------------------------------------------------------------------------
# A tensor's moments: a list of floats (32 bytes a number, the quickest to compute with), or for a
# big tensor an array of doubles (8 bytes a number: GPT-2 124M's two moments take 2 GB instead of
# 8 GB, at ~20% more time per update of that tensor).  The numbers are the same float64s either way.
Moments: TypeAlias = "list[float] | array[float]"
LARGE_TENSOR = 1 << 20  # numbers from which a tensor's moments are kept as an array


def moments(values: list[float]) -> Moments:
    return array("d", values) if len(values) >= LARGE_TENSOR else values


def adamw_update(values: Sequence[float], grads: Sequence[float], exp_avg: Sequence[float],
                 exp_avg_sq: Sequence[float], step: int, lr: float, betas: tuple[float, float], eps: float,
                 weight_decay: float, decay: bool) -> tuple[list[float], list[float], list[float]]:
    """AdamW's update of one tensor at step `step` (counted from 1): the new values and the two
    new moments, as new lists (AdamW's docstring below has the formulas).  `decay` is False for
    biases and layer norms, which weight decay leaves alone."""
    beta1, beta2 = betas
    keep1, keep2 = 1.0 - beta1, 1.0 - beta2  # (hoisted out of the loops below: same numbers)
    minus_step_size = -(lr / (1.0 - beta1**step))
    bias_correction2_sqrt = (1.0 - beta2**step) ** 0.5
    shrink = 1.0 - lr * weight_decay if decay else 1.0
    m = [a + keep1 * (b - a) for a, b in zip(exp_avg, grads)]
    v = [a * beta2 + keep2 * b * b for a, b in zip(exp_avg_sq, grads)]
    new_values = [w * shrink + minus_step_size * a / (root / bias_correction2_sqrt + eps)
                  for w, a, root in zip(values, m, map(math.sqrt, v))]
    return new_values, m, v


class AdamW:
    """Adam with decoupled weight decay, step for step the update of torch.optim.AdamW:

        p <- p * (1 - lr * weight_decay)                 (matrices and embeddings only)
        m <- m + (1 - beta1) * (g - m)                    (the mean of the gradients)
        v <- beta2 * v + (1 - beta2) * g * g              (the mean of their squares)
        p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    where t counts the steps from 1; dividing by 1 - beta^t undoes the moments' start at zero.
    `opt.lr` may be changed between steps (a schedule).  The moments and the step count are plain
    data (`state()`, `load_state()`), so a run can stop and continue exactly.
    """

    def __init__(self, params: Params, lr: float = 6e-4, betas: tuple[float, float] = (0.9, 0.95),
                 eps: float = 1e-8, weight_decay: float = 0.1) -> None:
        if not lr >= 0.0:
            raise ValueError(f"lr must be 0 or more, not {lr}")
        if not all(0.0 <= b < 1.0 for b in betas) or len(betas) != 2:
            raise ValueError(f"betas must be two numbers in [0, 1), not {betas}")
        if not eps >= 0.0 or not weight_decay >= 0.0:
            raise ValueError(f"eps and weight_decay must be 0 or more, not {eps} and {weight_decay}")
        self.params = params
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.tensors = parameters(params)
        stuck = sorted({p.storage for p in self.tensors if not p.writable})
        if stuck:
            raise ValueError(f"cannot train weights held as {', '.join(stuck)}: load the model with "
                             "storage='exact' (the default) or 'reference', and jobs=1")
        self.steps = 0
        self.exp_avg: dict[str, Moments] = {p.name: moments([0.0] * len(p.read())) for p in self.tensors}
        self.exp_avg_sq: dict[str, Moments] = {name: moments([0.0] * len(m)) for name, m in self.exp_avg.items()}

    def step(self, grads: Params) -> None:
        """One update of every parameter from `grads` (shaped like the parameters)."""
        gradients = named_gradients(grads)
        if list(gradients) != list(self.exp_avg):
            raise ValueError("the gradients do not belong to these parameters (different tensors)")
        self.steps += 1
        with cycle_collector_paused():  # (see fast/training.py)
            for p in self.tensors:
                g = gradients[p.name]
                values = p.read()
                if len(g) != len(values):
                    raise ValueError(f"{p.name}: {len(g)} gradient numbers for {len(values)} parameters")
                new_values, m, v = adamw_update(values, g, self.exp_avg[p.name], self.exp_avg_sq[p.name],
                                                self.steps, self.lr, self.betas, self.eps, self.weight_decay, p.decay)
                p.write(new_values)
                self.exp_avg[p.name], self.exp_avg_sq[p.name] = moments(m), moments(v)

    def state(self) -> dict[str, object]:
        """Everything a later run needs to continue exactly, as plain JSON-ready data (floats
        round-trip exactly through json, which writes repr)."""
        return {"step": self.steps, "lr": self.lr, "betas": list(self.betas), "eps": self.eps,
                "weight_decay": self.weight_decay,
                "exp_avg": {k: list(v) for k, v in self.exp_avg.items()},
                "exp_avg_sq": {k: list(v) for k, v in self.exp_avg_sq.items()}}

    def load_state(self, state: Mapping[str, object]) -> None:
        """Continue from `state()` of an optimizer over parameters of the same shapes: the step
        count and both moments.  The hyper-parameters (lr, betas, ...) stay this optimizer's own.
        To continue bit for bit, the parameters must be restored as float64 too (a weights
        folder holds float32): `p.write(values)` for each of `parameters(params)`."""
        step = state.get("step")
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise ValueError(f"optimizer state: 'step' is {step!r}, not a whole number >= 0")
        tables = {}
        for key in ("exp_avg", "exp_avg_sq"):
            table = state.get(key)
            if not isinstance(table, dict) or sorted(table) != sorted(self.exp_avg):
                raise ValueError(f"optimizer state: {key!r} does not name exactly this model's tensors")
            loaded: dict[str, Moments] = {}
            for name, current in self.exp_avg.items():
                values = table[name]
                if not isinstance(values, list) or len(values) != len(current) or not all(
                        isinstance(x, float) for x in values):
                    raise ValueError(f"optimizer state: {key}[{name!r}] is not {len(current)} floats")
                loaded[name] = moments(list(values))
            tables[key] = loaded
        self.steps = step
        self.exp_avg, self.exp_avg_sq = tables["exp_avg"], tables["exp_avg_sq"]


# --- Checking the gradients by finite differences ----------------------------------------------------
@dataclass(frozen=True)
class GradientCheck:
    """One coordinate: backward.py's gradient next to (L(p + h) - L(p - h)) / 2h."""

    name: str
    index: int
    analytic: float
    numeric: float

    @property
    def error(self) -> float:
        """|analytic - numeric| relative to the larger of the two (0 when both are 0)."""
        scale = max(abs(self.analytic), abs(self.numeric))
        return abs(self.analytic - self.numeric) / scale if scale else 0.0


def gradient_check(params: Params, batch: Batch, config: GPT2Config, *, per_tensor: int = 3, seed: int = 0,
                   step: float = 1e-5) -> list[GradientCheck]:
    """Central differences on `per_tensor` random coordinates of every tensor, in float64.

    Each coordinate is moved by +-step, the loss recomputed by the forward pass alone, and then put
    back exactly as it was.  With step = 1e-5 the difference quotient's own error (step^2 times
    the third derivative, plus rounding of about 1e-16 * loss / step) is near 1e-10, far below
    any real mistake in a backward formula."""
    _loss, grads = loss_and_gradients(params, batch, config)
    analytic = named_gradients(grads)
    rng = random.Random(seed)
    results = []
    for p in parameters(params):
        if not p.writable:
            raise ValueError(f"{p.name}: weights held as {p.storage} cannot be perturbed; load with storage='exact'")
        values = p.read()
        for index in sorted(rng.sample(range(len(values)), min(per_tensor, len(values)))):
            original = values[index]
            up, down = original + step, original - step
            values[index] = up
            p.write(values)
            loss_up = loss(params, batch, config)
            values[index] = down
            p.write(values)
            loss_down = loss(params, batch, config)
            values[index] = original
            p.write(values)
            results.append(GradientCheck(p.name, index, analytic[p.name][index], (loss_up - loss_down) / (up - down)))
    return results


# --- A new model ------------------------------------------------------------------------------------
def init_params(config: GPT2Config, seed: int = 0, storage: str = "exact") -> Params:
    """GPT-2's initialisation (as nanoGPT's): matrices and embeddings drawn from N(0, 0.02^2), the
    two projections back into the residual stream from N(0, (0.02 / sqrt(2 * n_layer))^2) so that
    the stream's variance does not grow with depth, biases 0, layer-norm gains 1.
    `storage` is "exact" (the default, fast) or "reference" (plain columns)."""
    if storage not in ("exact", "reference"):
        raise ValueError(f"storage must be 'exact' or 'reference' for training, not {storage!r}")
    rng = random.Random(seed)
    n = config.n_embd
    embed, hidden, qkv = Embed(n), Hidden(4 * n), Qkv(3 * n)
    projection_std = 0.02 / math.sqrt(2 * config.n_layer)

    def matrix(n_in: I, n_out: O, std: float = 0.02) -> Weight[I, O]:
        flat = array("d", [rng.gauss(0.0, std) for _ in range(n_in * n_out)])
        if storage == "reference":
            return weight_from_flat(flat, n_in, n_out)
        return fast_weight(flat, n_in, n_out, "exact")

    def linear(n_in: I, n_out: O, std: float = 0.02) -> Linear[I, O]:
        return Linear(matrix(n_in, n_out, std), zeros(ONE, n_out))

    def layer_norm() -> LayerNorm:
        return LayerNorm(from_rows([[1.0] * n], ONE, embed), zeros(ONE, embed))

    wte = Embedding(matrix(embed, Vocab(config.vocab_size)))
    wpe = Embedding(weight_from_flat(array("d", [rng.gauss(0.0, 0.02) for _ in range(config.n_ctx * n)]),
                                     embed, Ctx(config.n_ctx)))
    blocks = [Block(ln_1=layer_norm(),
                    attn=Attention(c_attn=linear(embed, qkv), c_proj=linear(embed, embed, projection_std)),
                    ln_2=layer_norm(),
                    mlp=MLP(c_fc=linear(embed, hidden), c_proj=linear(hidden, embed, projection_std)))
              for _ in range(config.n_layer)]
    return Params(wte=wte, wpe=wpe, h=blocks, ln_f=layer_norm())
