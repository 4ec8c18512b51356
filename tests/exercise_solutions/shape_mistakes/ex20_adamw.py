from __future__ import annotations

import math
from collections.abc import Sequence


def adamw_update(values: Sequence[float], grads: Sequence[float], exp_avg: Sequence[float],
                 exp_avg_sq: Sequence[float], step: int, lr: float, betas: tuple[float, float], eps: float,
                 weight_decay: float, decay: bool) -> tuple[list[float], list[float], list[float]]:
    beta1, beta2 = betas
    m = [beta1 * a + (1 - beta1) * g for a, g in zip(exp_avg, grads)]
    v = [beta2 * b + (1 - beta2) * g * g for b, g in zip(exp_avg_sq, grads)]
    m_hat = [a / (1 - beta1**step) for a in m]
    v_hat = [b / (1 - beta2**step) for b in v]
    shrink = 1 - lr * weight_decay if decay else 1.0
    new_values = [p * shrink - lr * a / (math.sqrt(v_hat) + eps) for p, a in zip(values, m_hat)]  # mypy: arg-type
    return new_values, m, v
