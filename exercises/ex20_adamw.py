"""Exercise 20: an AdamW step.                                              (about 25 minutes)

What it does
    The gradients say which way each parameter should move; the optimizer decides how far.
    AdamW (what nanoGPT and llm.c train GPT-2 with) keeps two running means per number between
    steps and moves every number by about lr, whatever the size of its gradient.  You write the update of
    one tensor: its values, its gradient and its two moments in, as flat lists of floats, the
    new values and the new moments out.

The formulas (for each number: p its value, g its gradient; t = step, counted from 1)
    m = beta1 * m + (1 - beta1) * g            the running mean of the gradients
    v = beta2 * v + (1 - beta2) * g * g        the running mean of their squares
    m_hat = m / (1 - beta1^t),   v_hat = v / (1 - beta2^t)         the bias correction
    p = p * (1 - lr * weight_decay)            weight decay, first, and only if decay is True
    p = p - lr * m_hat / (sqrt(v_hat) + eps)   the step

The moments are running means
    With beta1 = 0.9, m keeps 90% of what it held and takes 10% of the new gradient: a mean over
    about the last 1 / (1 - beta1) = 10 steps, in which single batches' noise cancels out.  v,
    with beta2 = 0.95, is the mean of g^2 over about 20 steps: the gradient's typical size,
    squared.  So m_hat / sqrt(v_hat) is near +-1 where the gradient keeps its sign and smaller
    where it keeps flipping: a step of about lr for every number, large gradients or small.

Bias correction, and why
    Both moments start at 0 (AdamW's first step passes zeros).  After step 1, m = (1 - beta1) g
    = 0.1 g: ten times too small, only because the mean started at 0.  After t steps of the same
    g, m = (1 - beta1^t) g, so dividing by 1 - beta1^t gives g back; the same for v with beta2.
    Without it the first step is m / sqrt(v) = 0.1 / sqrt(0.05) = 0.45 of what it should be,
    and the early steps are off until beta^t has faded.  Return m and v themselves: m_hat and
    v_hat are for this step's update only, and the next step goes on from m and v.

Decoupled weight decay
    Weight decay pulls the weights towards 0, and AdamW does it to the weight itself, apart
    from the gradient: p * (1 - lr * weight_decay), before the step.  Adam's older form added
    weight_decay * p to the gradient ("L2"); then the pull goes through m and v and is divided
    by sqrt(v_hat), so weights with large gradients hardly decay.  Keeping it out of the
    gradient is the W in AdamW.  `decay` is False for biases and layer norms' gains and biases
    (potatogpt's `Parameter.decay`, as nanoGPT's recipe): leave those alone.

eps
    eps (1e-8) goes outside the square root, sqrt(v_hat) + eps: it only keeps the division
    finite where the gradients have been 0.  Inside, sqrt(v_hat + eps), it would treat every
    gradient as if it had a size of at least sqrt(eps) = 1e-4: another optimizer.

The inputs
    values, grads, exp_avg (m) and exp_avg_sq (v): one tensor's numbers, as Sequence[float] of
    the same length; betas = (beta1, beta2).  Return three new lists, (new_values, new_exp_avg,
    new_exp_avg_sq), and write into none of the inputs (AdamW keeps its own; the grader reports
    a changed input as a verdict of its own).  Work number by number: zip the lists together.

Earlier pieces
    None: math.sqrt and lists.  In `python -m exercises train` yours updates every tensor of the
    model at every step.

In potatogpt
    potatogpt/train.py, `adamw_update`, which `AdamW.step` calls once per tensor (the class's
    docstring has the same formulas).  torch.optim.AdamW computes the same numbers.

Stage 1, shapes: `python -m mypy exercises/ex20_adamw.py`.  Compute with a whole list as if it were
one number, as NumPy would let you:

        new_values = [p * shrink - lr * a / (math.sqrt(v_hat) + eps) for p, a in zip(values, m_hat)]

    exercises/ex20_adamw.py:<line>: error: Argument 1 to "sqrt" has incompatible type "list[float]"; expected "SupportsFloat | SupportsIndex"  [arg-type]

Stage 2, values: `python -m exercises check 20`, on real tensors of the tiny checkpoint with real
gradients (of a batch, by potatogpt.train.loss_and_gradients): a matrix's first step (moments 0,
step 1), then step 5 of the matrix and of a layer norm's gain (decay False), with the moments four
real steps left.  The moments are checked before the values.  There is no finite difference here (an update is not a gradient); where yours differ,
the report works potatogpt's arithmetic through for the first wrong number.  Each value must
match to 1e-6 plus 1e-6 of its size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def adamw_update(values: Sequence[float], grads: Sequence[float], exp_avg: Sequence[float],
                 exp_avg_sq: Sequence[float], step: int, lr: float, betas: tuple[float, float], eps: float,
                 weight_decay: float, decay: bool) -> tuple[list[float], list[float], list[float]]:
    """AdamW's update of one tensor at step `step` (from 1): (new_values, new_exp_avg, new_exp_avg_sq)."""
    raise NotImplementedError("exercise 20: write adamw_update")
