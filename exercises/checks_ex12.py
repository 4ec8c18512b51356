"""Exercise 12's check: cross_entropy and cross_entropy_backward on the real probabilities of
tiny-prefixed for two rows of 7 tokens (a batch of B = 2, T = 7), each scored on its next tokens."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

from potatogpt import model
from potatogpt.api import GPT2
from potatogpt.tensor import Seq, Tensor, Vocab

from . import backprop
from .backward_checks import copied, finite_difference, tiny
from .grader import Case, Failed, Lab, Rows, Solution, check_cases
from .inputs import IDS

# Two rows of tokens; each position's target is the token after it.
TOKENS = (IDS + [70], [88, 12, 12, 50, 7, 33, 91, 2])
SCALE = 1.0 / (2 * 7)  # B = 2 rows of T = 7 predictions: each weighs 1 / (B * T) in the batch's mean


def logits_of(gpt: GPT2, ids: Sequence[int]) -> Tensor[Seq, Vocab]:
    """The output layer's logits for a row of tokens from position 0 (model.lm_head on the final hidden states)."""
    hidden = model.hidden_states(ids, gpt.params, model.new_kv_cache(gpt.config), gpt.config)
    return model.lm_head(hidden, gpt.params, gpt.config)


def loss_variants(probs: Tensor[Seq, Vocab], targets: Sequence[int]) -> dict[str, object]:
    n = len(targets)
    chosen = [p[t] for p, t in zip(probs.rows, targets)]
    total = -sum(map(math.log, chosen))
    return {
        "the loss is the sum over the rows: it is their mean (divide by the number of targets), "
        "so the loss does not grow with the row's length": [total],
        "log base 2 (bits): the loss is in nats, math.log(p), the natural log": [-sum(map(math.log2, chosen)) / n],
        "-log of the largest probability: the loss scores the target's probability, p[targets[t]], "
        "whatever the model liked best": [-sum(math.log(max(p)) for p in probs.rows) / n],
        "the minus sign is missing: the loss is -log p[target], positive (log p is negative, as p < 1)": [-total / n],
    }


def one_hot_rows(probs: Tensor[Seq, Vocab], columns: Sequence[int]) -> Rows:
    rows = []
    for column in columns:
        row = [0.0] * probs.n_cols
        row[column] = 1.0
        rows.append(row)
    return rows


def combined(probs: Tensor[Seq, Vocab], columns: Sequence[int], a: float, b: float) -> Rows:
    """a * p + b * one-hot(columns), row by row."""
    return [[a * v + b * o for v, o in zip(p, hot)] for p, hot in zip(probs.rows, one_hot_rows(probs, columns))]


def gradient_variants(probs: Tensor[Seq, Vocab], targets: Sequence[int], scale: float) -> dict[str, object]:
    n = len(targets)
    return {
        "the -1 at the target is missing: d loss / d logits = (p - one-hot(target)) * scale, "
        "the log's slope and the softmax's taken together": combined(probs, targets, scale, 0.0),
        "the scale is missing: multiply every entry (the -1 too) by `scale`, each prediction's weight in the "
        "batch's mean": combined(probs, targets, 1.0, -1.0),
        "the -1 was not scaled: (p - one-hot) * scale, the -1 at the target weighs 1 / (B * T) too":
            combined(probs, targets, scale, -1.0),
        f"scaled by 1 / {n} (1 / T, the rows you were given): use `scale` as given, 1 / (B * T), "
        "since the loss is the mean over the whole batch": combined(probs, targets, 1.0 / n, -1.0 / n),
        "the sign is flipped: d loss / d logits = p - one-hot (a logit's gradient is positive where "
        "raising it raises the loss)": combined(probs, targets, -scale, scale),
        "the -1 is one row late (targets[i - 1], row i's own input token): row i's target is targets[i]":
            combined(probs, [targets[i - 1] for i in range(n)], scale, -scale),
        "the -1 is at column i (the row's number): it belongs at column targets[i], the target token":
            combined(probs, list(range(n)), scale, -scale),
    }


def check(s: Solution, lab: Lab) -> None:
    gpt = tiny(lab)
    rows = []
    for number, tokens in enumerate(TOKENS, start=1):
        ids, targets = tokens[:-1], tokens[1:]
        logits = logits_of(gpt, ids)
        rows.append((f"row {number}", logits, logits.softmax_rows(), targets))

    cases = []
    for name, _logits, probs, targets in rows:  # potatogpt's first, then yours
        want = backprop.cross_entropy(copied(probs), list(targets))
        got = s.call("cross_entropy", probs, targets)
        cases.append(Case(f"cross_entropy(probs of {name}, targets)", [want], number_of(got, name),
                          partial(loss_variants, probs, targets)))
    check_cases(cases)

    cases = []
    for name, logits, probs, targets in rows:
        want_grad = backprop.cross_entropy_backward(copied(probs), list(targets), SCALE)
        got_grad = s.call("cross_entropy_backward", probs, targets, SCALE)
        z = copied(logits)
        cases.append(Case(f"cross_entropy_backward(probs of {name}, targets, scale=1/14)", want_grad,
                          partial(returned_value, got_grad),
                          partial(gradient_variants, probs, targets, SCALE),
                          shapes={(probs.n_cols, probs.n_rows): "it is transposed: one row per position, "
                                  "one column per vocabulary entry, as probs"},
                          numeric=finite_difference("z", z, weighed_loss(z, targets, SCALE),
                                                    "scale times the sum of -log softmax(z)[target]")))
    check_cases(cases)


def number_of(got: object, name: str) -> Callable[[], list[float]]:
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        kind = "None: is a `return` missing?" if got is None else f"a {type(got).__name__}"
        raise Failed([f"cross_entropy(probs of {name}, targets) returned {kind}, not a float",
                      "  hint: the loss is one number, the mean over the rows of -log p[target]"])
    return lambda: [float(got)]


def weighed_loss(z: Tensor[Seq, Vocab], targets: Sequence[int], scale: float) -> Callable[[], float]:
    """f(z) = scale * the sum of -log softmax(z)[target]: its slope in z is what cross_entropy_backward returns."""
    return lambda: scale * -sum(math.log(p[t]) for p, t in zip(z.softmax_rows().rows, targets))


def returned_value(value: object) -> object:
    return value
