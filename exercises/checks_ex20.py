"""Exercise 20's check: adamw_update on real tensors of tiny-prefixed with real gradients.

potatogpt's own AdamW trains a copy of the checkpoint for four steps on small batches
(loss_and_gradients, then AdamW.step), so the moments are the ones a run really holds.  Three
calls: AdamW's first step of a matrix (moments 0, step 1, decay True), its fifth (the moments of
four steps, decay True), and the fifth of a layer norm's gain (decay False).

lr is 0.03 (nanoGPT trains GPT-2 at 6e-4) so that every known mistake shows far above the tolerance:
weight decay after the step instead of before differs by lr^2 * weight_decay per step, about
1e-4 here, and at 6e-4 it would be below the tolerance.

The moments are compared before the values, so a mistake in m or v is named where it is made.
An update is not a gradient, so there is no finite difference: instead a wrong number gets
potatogpt's arithmetic worked through for it, step by step."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, partial

from potatogpt import train

from . import backprop
from .backward_checks import copied, tiny
from .grader import Case, Failed, Lab, Solution, WrongValues, as_rows, check_cases, is_close

LR, BETAS, EPS, WEIGHT_DECAY = 0.03, (0.9, 0.95), 1e-8, 0.1
MATRIX, GAIN = "h.1.attn.c_proj.weight", "h.1.ln_1.weight"
STEPS = 4  # real steps before the step-5 calls
BATCH_ROWS, BATCH_TOKENS = 2, 9


@dataclass(frozen=True)
class Inputs:
    """One call's arguments, as AdamW.step gives them."""

    name: str
    values: list[float]
    grads: list[float]
    exp_avg: list[float]
    exp_avg_sq: list[float]
    step: int
    decay: bool

    def arguments(self) -> tuple[object, ...]:
        """adamw_update's ten arguments."""
        return (self.values, self.grads, self.exp_avg, self.exp_avg_sq, self.step, LR, BETAS, EPS, WEIGHT_DECAY,
                self.decay)


def batch(k: int) -> list[list[int]]:
    """Step k's batch: rows of token ids for the tiny vocabulary (96)."""
    return [[(7 * k + 3 * i + 11 * j) % 96 for i in range(BATCH_TOKENS)] for j in range(BATCH_ROWS)]


def real_inputs(lab: Lab) -> list[Inputs]:
    gpt = tiny(lab)
    params = copied(gpt.params)  # (trained here; the lab's model stays as it was)
    opt = train.AdamW(params, lr=LR, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY)
    tensors = {p.name: p for p in train.parameters(params)}
    found = []
    for k in range(STEPS + 1):
        _loss, grads = train.loss_and_gradients(params, batch(k), gpt.config)
        gradients = train.named_gradients(grads)
        if k == 0:
            g = gradients[MATRIX]
            found.append(Inputs(MATRIX, tensors[MATRIX].read(), g, [0.0] * len(g), [0.0] * len(g), 1, True))
        if k == STEPS:
            for name in (MATRIX, GAIN):
                found.append(Inputs(name, tensors[name].read(), gradients[name], list(opt.exp_avg[name]),
                                    list(opt.exp_avg_sq[name]), STEPS + 1, tensors[name].decay))
        else:
            opt.step(grads)
    return found


def check(s: Solution, lab: Lab) -> None:
    for inputs in real_inputs(lab):
        check_step(s, inputs)


def check_step(s: Solution, inputs: Inputs) -> None:
    want = backprop.adamw_update(inputs.values, inputs.grads, inputs.exp_avg, inputs.exp_avg_sq, inputs.step, LR, BETAS,
                                 EPS, WEIGHT_DECAY, inputs.decay)
    what = f"adamw_update({inputs.name}, step {inputs.step}, decay {inputs.decay})"
    got = s.call("adamw_update", *inputs.arguments())
    if not isinstance(got, tuple) or len(got) != 3:
        kind = "None: is a `return` missing?" if got is None else f"a {type(got).__name__}"
        raise Failed([f"{what} returned {kind}, not a tuple of 3",
                      "  hint: return new_values, new_exp_avg, new_exp_avg_sq"])
    names = ("new_values", "new_exp_avg", "new_exp_avg_sq")
    for name, value in zip(names, got):
        if not isinstance(value, list):
            raise Failed([f"{what}: {name} is a {type(value).__name__}, not a list",
                          "  hint: return new lists, [... for ... in zip(...)]"])
    known = cache(partial(variants, inputs, want))  # (computed once, and only for a wrong answer)
    for index in (1, 2, 0):  # (the moments first: a mistake in m or v is named where it is made)
        with_working(output_case(f"{what}: {names[index]}", want[index], got[index], known, index),
                     partial(working, inputs))


def output_case(what: str, want: list[float], got: object, known: Callable[[], tuple[dict[str, object], ...]],
                index: int) -> Case:
    return Case(what, want, lambda: got, lambda: known()[index])


def with_working(case: Case, lines: Callable[[int], list[str]]) -> None:
    """check_cases([case]), with potatogpt's arithmetic for the first wrong number in the report."""
    try:
        check_cases([case])
    except WrongValues as wrong:
        (got,), (want,) = as_rows(case.got(), case.what), as_rows(case.want, "potatogpt")
        first = next(k for k, (a, b) in enumerate(zip(got, want)) if not is_close(a, b))
        raise WrongValues(wrong.head + lines(first), wrong.matched, wrong.otherwise) from None


def working(inputs: Inputs, k: int) -> list[str]:
    """potatogpt's update of number k, one formula a line."""
    (beta1, beta2), t = BETAS, inputs.step
    p, g, m0, v0 = inputs.values[k], inputs.grads[k], inputs.exp_avg[k], inputs.exp_avg_sq[k]
    m = beta1 * m0 + (1 - beta1) * g
    v = beta2 * v0 + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    shrunk = p * (1 - LR * WEIGHT_DECAY) if inputs.decay else p
    new = shrunk - LR * m_hat / (math.sqrt(v_hat) + EPS)
    decayed = (f"p = p * (1 - lr * weight_decay) = {p:.6g} * (1 - {LR:g} * {WEIGHT_DECAY:g}) = {shrunk:.6g}"
               if inputs.decay else f"decay is False: p stays {p:.6g}")
    return [f"  potatogpt's update of index {k} (step t = {t}, lr = {LR:g}, betas = {BETAS}, eps = {EPS:g}):",
            f"    m = {beta1:g} * {m0:.6g} + {1 - beta1:.2g} * g ({g:.6g}) = {m:.6g}",
            f"    v = {beta2:g} * {v0:.6g} + {1 - beta2:.2g} * g^2 = {v:.6g}",
            f"    m_hat = m / (1 - {beta1:g}^{t}) = {m_hat:.6g};  v_hat = v / (1 - {beta2:g}^{t}) = {v_hat:.6g}",
            f"    {decayed}",
            f"    p = p - lr * m_hat / (sqrt(v_hat) + eps) = {new:.6g}"]


def update(inputs: Inputs, *, betas: tuple[float, float] = BETAS, m_of: Callable[[float], float] = lambda g: g,
           v_of: Callable[[float], float] = lambda g: g * g, l2: bool = False, kept_first: bool = True,
           correct_m: bool = True, correct_v: bool = True, t_shift: int = 0, decay: bool | None = None,
           decay_after: bool = False, shrink_of: Callable[[float, float], float] = lambda lr, wd: 1 - lr * wd,
           eps_inside: bool = False, sign: float = -1.0) -> tuple[list[float], list[float], list[float]]:
    """AdamW's update with the known mistakes as options (the defaults: potatogpt's, to rounding)."""
    beta1, beta2 = betas
    decays = inputs.decay if decay is None else decay
    grads = inputs.grads
    if l2 and inputs.decay:
        grads = [g + WEIGHT_DECAY * p for g, p in zip(grads, inputs.values)]
    if kept_first:
        m = [beta1 * a + (1 - beta1) * m_of(g) for a, g in zip(inputs.exp_avg, grads)]
        v = [beta2 * b + (1 - beta2) * v_of(g) for b, g in zip(inputs.exp_avg_sq, grads)]
    else:
        m = [(1 - beta1) * a + beta1 * m_of(g) for a, g in zip(inputs.exp_avg, grads)]
        v = [(1 - beta2) * b + beta2 * v_of(g) for b, g in zip(inputs.exp_avg_sq, grads)]
    t = inputs.step + t_shift
    c1 = 1 - beta1**t if correct_m else 1.0
    c2 = 1 - beta2**t if correct_v else 1.0
    shrink = shrink_of(LR, WEIGHT_DECAY) if decays and not l2 else 1.0
    new = []
    for p, a, b in zip(inputs.values, m, v):
        denominator = math.sqrt(b / c2 + EPS) if eps_inside else math.sqrt(b / c2) + EPS
        moved = sign * LR * (a / c1) / denominator
        new.append((p + moved) * shrink if decay_after else p * shrink + moved)
    return new, m, v


def variants(inputs: Inputs, want: Sequence[list[float]]) -> tuple[dict[str, object], ...]:
    """The known mistakes' (new_values, m, v): for each output, its hint and the numbers it gives."""
    beta1, beta2 = BETAS
    t = inputs.step
    l2 = update(inputs, l2=True) if inputs.decay else None
    swapped = update(inputs, betas=(beta2, beta1))
    kept_last = update(inputs, kept_first=False)
    order = "return new_values, new_exp_avg, new_exp_avg_sq, in that order"
    l2_hint = ("weight_decay * p was added to the gradient (L2, Adam's older form): AdamW's decay is decoupled, "
               "p * (1 - lr * weight_decay) on the weight itself, and m and v see the gradient alone")
    swapped_hint = f"beta1 and beta2 swapped: m's running mean uses beta1 = {beta1:g}, v's beta2 = {beta2:g}"
    m_known: dict[str, object] = {
        "m was updated with g * g: m is the running mean of the gradients, beta1 * m + (1 - beta1) * g "
        "(v is the one of their squares)": update(inputs, m_of=lambda g: g * g)[1],
        swapped_hint: swapped[1],
        "m keeps 1 - beta1 of the old mean: m = beta1 * m + (1 - beta1) * g, most of it the old m": kept_last[1],
        "the returned m is bias-corrected (divided by 1 - beta1^t): return m itself, m_hat is for this step's "
        "update only (the next step goes on from m)": [a / (1 - beta1**t) for a in want[1]],
        "the returned m is the old exp_avg: return the updated moment": list(inputs.exp_avg),
        "new_exp_avg holds the new values: " + order: want[0],
        "new_exp_avg holds v: " + order: want[2],
    }
    v_known: dict[str, object] = {
        "v was updated with |g|: v is the running mean of the squared gradients, beta2 * v + (1 - beta2) * g * g":
            update(inputs, v_of=abs)[2],
        swapped_hint: swapped[2],
        "v keeps 1 - beta2 of the old mean: v = beta2 * v + (1 - beta2) * g * g, most of it the old v": kept_last[2],
        "the returned v is bias-corrected (divided by 1 - beta2^t): return v itself, v_hat is for this step's "
        "update only": [b / (1 - beta2**t) for b in want[2]],
        "the returned v is the old exp_avg_sq: return the updated moment": list(inputs.exp_avg_sq),
        "new_exp_avg_sq holds the new values: " + order: want[0],
        "new_exp_avg_sq holds m: " + order: want[1],
    }
    if l2 is not None:
        m_known[l2_hint], v_known[l2_hint] = l2[1], l2[2]
    values_known: dict[str, object] = {
        "no bias correction: divide m by 1 - beta1^t and v by 1 - beta2^t (the moments started at 0)":
            update(inputs, correct_m=False, correct_v=False)[0],
        "only m was bias-corrected: v_hat = v / (1 - beta2^t) as well": update(inputs, correct_v=False)[0],
        "only v was bias-corrected: m_hat = m / (1 - beta1^t) as well": update(inputs, correct_m=False)[0],
        f"the bias correction used t = step + 1: step already counts from 1 (this is step {t})":
            update(inputs, t_shift=1)[0],
        "eps inside the square root: sqrt(v_hat) + eps, not sqrt(v_hat + eps)": update(inputs, eps_inside=True)[0],
        "the step went uphill: p = p - lr * m_hat / (sqrt(v_hat) + eps)": update(inputs, sign=1.0)[0],
    }
    if t > 1:
        values_known[f"the bias correction used t = step - 1: step already counts from 1 (this is step {t})"] = (
            update(inputs, t_shift=-1)[0])
    if inputs.decay:
        values_known.update({
            "no weight decay: with decay True, p first becomes p * (1 - lr * weight_decay)":
                update(inputs, decay=False)[0],
            "weight decay after the step: decay first, p * (1 - lr * weight_decay), then the step "
            "(after, it shrinks the step too)": update(inputs, decay_after=True)[0],
            "weight decay without lr: p * (1 - lr * weight_decay), the decay scaled by the learning rate":
                update(inputs, shrink_of=lambda lr, wd: 1 - wd)[0],
        })
    else:
        values_known["weight decay on a tensor with decay False (a bias or a layer norm): only shrink p when "
                     "decay is True"] = update(inputs, decay=True)[0]
    return values_known, m_known, v_known
