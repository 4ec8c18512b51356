"""Exercise 20 (an AdamW step): wrong solutions as students write them."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .students import Student


def adamw_no_bias_correction(values: Sequence[float], grads: Sequence[float], exp_avg: Sequence[float],
                             exp_avg_sq: Sequence[float], step: int, lr: float, betas: tuple[float, float], eps: float,
                             weight_decay: float, decay: bool) -> tuple[list[float], list[float], list[float]]:
    """Adam as first met in a blog post: the running means used as they are."""
    beta1, beta2 = betas
    m = [beta1 * a + (1 - beta1) * g for a, g in zip(exp_avg, grads)]
    v = [beta2 * b + (1 - beta2) * g * g for b, g in zip(exp_avg_sq, grads)]
    shrink = 1 - lr * weight_decay if decay else 1.0
    return [p * shrink - lr * a / (math.sqrt(b) + eps) for p, a, b in zip(values, m, v)], m, v


def adamw_decays_everything(values: Sequence[float], grads: Sequence[float], exp_avg: Sequence[float],
                            exp_avg_sq: Sequence[float], step: int, lr: float, betas: tuple[float, float], eps: float,
                            weight_decay: float, decay: bool) -> tuple[list[float], list[float], list[float]]:
    """`decay` never read: the biases and layer norms shrink too."""
    beta1, beta2 = betas
    m = [beta1 * a + (1 - beta1) * g for a, g in zip(exp_avg, grads)]
    v = [beta2 * b + (1 - beta2) * g * g for b, g in zip(exp_avg_sq, grads)]
    new_values = []
    for p, a, b in zip(values, m, v):
        p = p * (1 - lr * weight_decay)
        new_values.append(p - lr * (a / (1 - beta1**step)) / (math.sqrt(b / (1 - beta2**step)) + eps))
    return new_values, m, v


def adamw_l2(values: Sequence[float], grads: Sequence[float], exp_avg: Sequence[float],
             exp_avg_sq: Sequence[float], step: int, lr: float, betas: tuple[float, float], eps: float,
             weight_decay: float, decay: bool) -> tuple[list[float], list[float], list[float]]:
    """Weight decay as the textbook's L2 term, added to the gradient."""
    beta1, beta2 = betas
    if decay:
        grads = [g + weight_decay * p for g, p in zip(grads, values)]
    m = [beta1 * a + (1 - beta1) * g for a, g in zip(exp_avg, grads)]
    v = [beta2 * b + (1 - beta2) * g * g for b, g in zip(exp_avg_sq, grads)]
    m_hat = [a / (1 - beta1**step) for a in m]
    v_hat = [b / (1 - beta2**step) for b in v]
    return [p - lr * a / (math.sqrt(b) + eps) for p, a, b in zip(values, m_hat, v_hat)], m, v


def adamw_decay_after(values: Sequence[float], grads: Sequence[float], exp_avg: Sequence[float],
                      exp_avg_sq: Sequence[float], step: int, lr: float, betas: tuple[float, float], eps: float,
                      weight_decay: float, decay: bool) -> tuple[list[float], list[float], list[float]]:
    """The Adam step first, then "and also decay the weights"."""
    beta1, beta2 = betas
    m = [beta1 * a + (1 - beta1) * g for a, g in zip(exp_avg, grads)]
    v = [beta2 * b + (1 - beta2) * g * g for b, g in zip(exp_avg_sq, grads)]
    new_values = [p - lr * (a / (1 - beta1**step)) / (math.sqrt(b / (1 - beta2**step)) + eps)
                  for p, a, b in zip(values, m, v)]
    if decay:
        new_values = [p * (1 - lr * weight_decay) for p in new_values]
    return new_values, m, v


def adamw_eps_inside(values: Sequence[float], grads: Sequence[float], exp_avg: Sequence[float],
                     exp_avg_sq: Sequence[float], step: int, lr: float, betas: tuple[float, float], eps: float,
                     weight_decay: float, decay: bool) -> tuple[list[float], list[float], list[float]]:
    """eps added "to keep the square root safe", under it."""
    beta1, beta2 = betas
    m = [beta1 * a + (1 - beta1) * g for a, g in zip(exp_avg, grads)]
    v = [beta2 * b + (1 - beta2) * g * g for b, g in zip(exp_avg_sq, grads)]
    shrink = 1 - lr * weight_decay if decay else 1.0
    new_values = [p * shrink - lr * (a / (1 - beta1**step)) / math.sqrt(b / (1 - beta2**step) + eps)
                  for p, a, b in zip(values, m, v)]
    return new_values, m, v


def adamw_betas_swapped(values: Sequence[float], grads: Sequence[float], exp_avg: Sequence[float],
                        exp_avg_sq: Sequence[float], step: int, lr: float, betas: tuple[float, float], eps: float,
                        weight_decay: float, decay: bool) -> tuple[list[float], list[float], list[float]]:
    """The pair unpacked in the wrong order."""
    beta2, beta1 = betas
    m = [beta1 * a + (1 - beta1) * g for a, g in zip(exp_avg, grads)]
    v = [beta2 * b + (1 - beta2) * g * g for b, g in zip(exp_avg_sq, grads)]
    shrink = 1 - lr * weight_decay if decay else 1.0
    new_values = [p * shrink - lr * (a / (1 - beta1**step)) / (math.sqrt(b / (1 - beta2**step)) + eps)
                  for p, a, b in zip(values, m, v)]
    return new_values, m, v


def adamw_step_from_zero(values: Sequence[float], grads: Sequence[float], exp_avg: Sequence[float],
                         exp_avg_sq: Sequence[float], step: int, lr: float, betas: tuple[float, float], eps: float,
                         weight_decay: float, decay: bool) -> tuple[list[float], list[float], list[float]]:
    """`step` taken for a 0-based counter, "t = step + 1" as in a training loop's range()."""
    beta1, beta2 = betas
    t = step + 1
    m = [beta1 * a + (1 - beta1) * g for a, g in zip(exp_avg, grads)]
    v = [beta2 * b + (1 - beta2) * g * g for b, g in zip(exp_avg_sq, grads)]
    shrink = 1 - lr * weight_decay if decay else 1.0
    new_values = [p * shrink - lr * (a / (1 - beta1**t)) / (math.sqrt(b / (1 - beta2**t)) + eps)
                  for p, a, b in zip(values, m, v)]
    return new_values, m, v


def adamw_returns_corrected(values: Sequence[float], grads: Sequence[float], exp_avg: Sequence[float],
                            exp_avg_sq: Sequence[float], step: int, lr: float, betas: tuple[float, float], eps: float,
                            weight_decay: float, decay: bool) -> tuple[list[float], list[float], list[float]]:
    """The moments corrected in place of the running means, and those returned."""
    beta1, beta2 = betas
    m = [(beta1 * a + (1 - beta1) * g) / (1 - beta1**step) for a, g in zip(exp_avg, grads)]
    v = [(beta2 * b + (1 - beta2) * g * g) / (1 - beta2**step) for b, g in zip(exp_avg_sq, grads)]
    shrink = 1 - lr * weight_decay if decay else 1.0
    return [p * shrink - lr * a / (math.sqrt(b) + eps) for p, a, b in zip(values, m, v)], m, v


def adamw_moments_in_place(values: Sequence[float], grads: Sequence[float], exp_avg: Sequence[float],
                           exp_avg_sq: Sequence[float], step: int, lr: float, betas: tuple[float, float], eps: float,
                           weight_decay: float, decay: bool) -> tuple[list[float], list[float], list[float]]:
    """The moments updated where they are, as torch's optimizer does with its state."""
    beta1, beta2 = betas
    m, v = list(exp_avg), list(exp_avg_sq)
    assert isinstance(exp_avg, list) and isinstance(exp_avg_sq, list)
    for i, g in enumerate(grads):
        exp_avg[i] = beta1 * exp_avg[i] + (1 - beta1) * g
        exp_avg_sq[i] = beta2 * exp_avg_sq[i] + (1 - beta2) * g * g
        m[i], v[i] = exp_avg[i], exp_avg_sq[i]
    shrink = 1 - lr * weight_decay if decay else 1.0
    new_values = [p * shrink - lr * (a / (1 - beta1**step)) / (math.sqrt(b / (1 - beta2**step)) + eps)
                  for p, a, b in zip(values, m, v)]
    return new_values, m, v


def adamw_m_of_squares(values: Sequence[float], grads: Sequence[float], exp_avg: Sequence[float],
                       exp_avg_sq: Sequence[float], step: int, lr: float, betas: tuple[float, float], eps: float,
                       weight_decay: float, decay: bool) -> tuple[list[float], list[float], list[float]]:
    """v's line written first, then copied for m and only the beta changed."""
    beta1, beta2 = betas
    v = [beta2 * b + (1 - beta2) * g * g for b, g in zip(exp_avg_sq, grads)]
    m = [beta1 * a + (1 - beta1) * g * g for a, g in zip(exp_avg, grads)]
    shrink = 1 - lr * weight_decay if decay else 1.0
    new_values = [p * shrink - lr * (a / (1 - beta1**step)) / (math.sqrt(b / (1 - beta2**step)) + eps)
                  for p, a, b in zip(values, m, v)]
    return new_values, m, v


def adamw_v_of_gradients(values: Sequence[float], grads: Sequence[float], exp_avg: Sequence[float],
                         exp_avg_sq: Sequence[float], step: int, lr: float, betas: tuple[float, float], eps: float,
                         weight_decay: float, decay: bool) -> tuple[list[float], list[float], list[float]]:
    """m's line copied for v and the square forgotten: a negative v under the square root."""
    beta1, beta2 = betas
    m = [beta1 * a + (1 - beta1) * g for a, g in zip(exp_avg, grads)]
    v = [beta2 * b + (1 - beta2) * g for b, g in zip(exp_avg_sq, grads)]
    shrink = 1 - lr * weight_decay if decay else 1.0
    new_values = [p * shrink - lr * (a / (1 - beta1**step)) / (math.sqrt(b / (1 - beta2**step)) + eps)
                  for p, a, b in zip(values, m, v)]
    return new_values, m, v


STUDENTS = [
    Student(20, "adamw_update", adamw_no_bias_correction, "failed", "no bias correction"),
    Student(20, "adamw_update", adamw_decays_everything, "failed", "weight decay on a tensor with decay False"),
    Student(20, "adamw_update", adamw_l2, "failed", "weight_decay * p was added to the gradient"),
    Student(20, "adamw_update", adamw_decay_after, "failed", "weight decay after the step"),
    Student(20, "adamw_update", adamw_eps_inside, "failed", "eps inside the square root"),
    Student(20, "adamw_update", adamw_betas_swapped, "failed", "beta1 and beta2 swapped"),
    Student(20, "adamw_update", adamw_step_from_zero, "failed", "the bias correction used t = step + 1"),
    Student(20, "adamw_update", adamw_returns_corrected, "failed", "the returned m is bias-corrected"),
    Student(20, "adamw_update", adamw_moments_in_place, "changed its input", "your adamw_update wrote into its input exp_avg"),
    Student(20, "adamw_update", adamw_m_of_squares, "failed", "m was updated with g * g"),
    Student(20, "adamw_update", adamw_v_of_gradients, "crashed", "exp_avg_sq is a running mean of g * g, never negative"),
]
