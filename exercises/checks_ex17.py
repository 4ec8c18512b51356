"""Exercise 17's check: softmax_rows_backward, attention_weights_backward and attention_backward
on one head (head 1) of tiny-prefixed's block 0: its real queries, keys and values for 7 tokens
from position 0 (head_dim 8, so K^T is 8 x 7 and a transposed gradient has the wrong shape).

The softmax is checked twice: on the head's own p (causal, zeros above the diagonal) and on the
softmax of the same scores without the mask, since softmax_rows_backward is every softmax's
backward, not only a masked one's.  The known mistakes are computed with potatogpt's pieces and
one thing changed (the Jacobian's diagonal only, the scale, the mask, V's product)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from potatogpt import backward, model
from potatogpt.tensor import Ctx, HeadDim, Seq, Tensor, Weight, dot, weight_from_tensor

from . import backprop
from .backward_checks import check_all, finite_difference, returned, summed_against, tiny, upstream
from .grader import Case, Failed, Lab, Solution
from .inputs import head_inputs

HEAD = 1  # (any head would do; not the first, so nothing can work by accident on head 0's columns)

SoftmaxBackward = Callable[[Tensor[Seq, Ctx], Tensor[Seq, Ctx]], Tensor[Seq, Ctx]]


# --- The known mistakes ------------------------------------------------------------------------------
def per_row(dp: Tensor[Seq, Ctx], p: Tensor[Seq, Ctx], f: Callable[[list[float], list[float]], list[float]]) -> Tensor[Seq, Ctx]:
    return Tensor(p.n_rows, p.n_cols, [f(d, q) for d, q in zip(dp.rows, p.rows)])


def diagonal(dp: Tensor[Seq, Ctx], p: Tensor[Seq, Ctx]) -> Tensor[Seq, Ctx]:
    return per_row(dp, p, lambda d, q: [b * (1.0 - b) * a for a, b in zip(d, q)])


def unweighted(dp: Tensor[Seq, Ctx], p: Tensor[Seq, Ctx]) -> Tensor[Seq, Ctx]:
    return per_row(dp, p, lambda d, q: [b * (a - sum(d)) for a, b in zip(d, q)])


def without_p(dp: Tensor[Seq, Ctx], p: Tensor[Seq, Ctx]) -> Tensor[Seq, Ctx]:
    return per_row(dp, p, lambda d, q: [a - dot(d, q) for a in d])


def plus(dp: Tensor[Seq, Ctx], p: Tensor[Seq, Ctx]) -> Tensor[Seq, Ctx]:
    return per_row(dp, p, lambda d, q: [b * (a + dot(d, q)) for a, b in zip(d, q)])


def masked_again(dp: Tensor[Seq, Ctx], p: Tensor[Seq, Ctx]) -> Tensor[Seq, Ctx]:
    ds = backward.softmax_rows_backward(dp, p)
    return Tensor(ds.n_rows, ds.n_cols, [[v if j <= i else 0.0 for j, v in enumerate(row)] for i, row in enumerate(ds.rows)])


SOFTMAX_MISTAKES: dict[str, SoftmaxBackward] = {
    "only the Jacobian's diagonal, ds_i = p_i (1 - p_i) dp_i: every score moves every p (they share the "
    "denominator), so ds_i = p_i (dp_i - sum_k dp_k p_k)": diagonal,
    "the sum in ds_i = p_i (dp_i - sum_k dp_k p_k) is of dp alone: weight each dp_k by its p_k, dot(dp, p)": unweighted,
    "the leading p_i is missing: ds_i = p_i (dp_i - sum_k dp_k p_k)": without_p,
    "a sign: ds_i = p_i (dp_i - sum_k dp_k p_k), minus the dot (the Jacobian is diag(p) - p p^T)": plus,
}

MASKED_AGAIN = ("your softmax_rows_backward applies a causal mask of its own: softmax_rows_backward is every "
                "softmax's backward, and it needs none (where a mask was, p = 0, so ds = 0 already)")

INV_SQRT = "the scale 1/sqrt(head_dim)"
SCALES: dict[str, Callable[[int, int], float]] = {
    f"{INV_SQRT} was left out of the backward: the scores were multiplied by it, so d(q @ K^T) = ds * "
    "(1/sqrt(head_dim))": lambda d, n: 1.0,
    f"{INV_SQRT} was applied twice, or as 1/head_dim (the same number): multiply ds by 1/sqrt(head_dim) once":
        lambda d, n: 1.0 / d,
    "ds was multiplied by sqrt(head_dim): the forward pass divided by it, so the backward divides too, "
    "d(q @ K^T) = ds * (1/sqrt(head_dim))": lambda d, n: math.sqrt(d),
    "the scale is 1/sqrt(head_dim) (q's columns, q.n_cols), not 1/sqrt(the number of keys)": lambda d, n: 1.0 / math.sqrt(n),
}


def weights_gradients(dp: Tensor[Seq, Ctx], q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx], p: Tensor[Seq, Ctx],
                      softmax: SoftmaxBackward = backward.softmax_rows_backward,
                      scale: float | None = None) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx]]:
    """attention_weights_backward with one piece swapped for a mistaken one."""
    c = 1.0 / math.sqrt(q.n_cols) if scale is None else scale
    return backward.product_backward(softmax(dp, p) * c, q, k_t)


def weights_variants(dp: Tensor[Seq, Ctx], q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx], p: Tensor[Seq, Ctx],
                     which: int) -> dict[str, object]:
    found: dict[str, object] = {}
    for hint, softmax in SOFTMAX_MISTAKES.items():
        found[hint] = weights_gradients(dp, q, k_t, p, softmax)[which]
    for hint, scale in SCALES.items():
        found[hint] = weights_gradients(dp, q, k_t, p, scale=scale(q.n_cols, k_t.n_out))[which]
    return found


UNMASKED = ("p was recomputed without the causal mask: model.attention_weights(q, k_t) is the p the forward pass "
            "used (a query's weights on later keys are 0, and so are their gradients)")


def head_variants(dy: Tensor[Seq, HeadDim], q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx],
                  v: Weight[Ctx, HeadDim], which: int) -> dict[str, object]:
    p = model.attention_weights(q, k_t)
    dp, dv = backward.product_backward(dy, p, v)
    found: dict[str, object] = {}
    if which < 2:
        found.update(weights_variants(dp, q, k_t, p, which))
    else:
        # (p is square here, 7 queries x 7 keys, so p @ dy has dV's shape and runs: only the values tell.)
        found["dV used p where p^T belongs: out = p @ V, so dV = p^T @ dy (V's shape, keys x head_dim)"] = (
            weight_from_tensor(Tensor(p.n_cols, p.n_rows, p.rows) @ dy))  # (p's rows, read as p^T's: square)
    unmasked = ((q @ k_t) * (1.0 / math.sqrt(q.n_cols))).softmax_rows()
    dp_unmasked, dv_unmasked = backward.product_backward(dy, unmasked, v)
    found[UNMASKED] = (weights_gradients(dp_unmasked, q, k_t, unmasked) + (dv_unmasked,))[which]
    return found


# --- What came back ------------------------------------------------------------------------------------
def structure(what: str, got: Sequence[object], want: Sequence[object], names: Sequence[str]) -> None:
    """The gradients in the inputs' order, each a Tensor or a Weight like its input (shapes are
    left to the values' check, which names a transposed gradient)."""
    def kind(value: object) -> str:
        return type(value).__name__ if isinstance(value, (Tensor, Weight)) else f"a {type(value).__name__}"

    order = ", ".join(names)
    got_kinds, want_kinds = [kind(g) for g in got], [kind(w) for w in want]
    shapes = [getattr(g, "shape", None) for g in got]
    for i, (g, w) in enumerate(zip(got_kinds, want_kinds)):
        if g == w:
            continue
        for j, want_value in enumerate(want):
            if (j != i and want_kinds[j] == g and shapes[i] == getattr(want_value, "shape", None)
                    and got_kinds[j] == w and shapes[j] == getattr(want[i], "shape", None)):
                raise Failed([f"{what}: {names[i]} is a {g} of shape {shapes[i]}, which is {names[j]}'s",
                              f"  hint: {names[i]} and {names[j]} are swapped: return ({order}), "
                              "the gradients in the order of the inputs they belong to"])
        belongs = (f"{names[i][1:]} is a Tensor, so {names[i]} is one too" if w == "Tensor" else
                   f"{names[i][1:]} is a Weight, so {names[i]} is one too (weight_from_tensor(t) holds a tensor as one)")
        raise Failed([f"{what}: {names[i]} is {'a ' + g if g in ('Tensor', 'Weight') else g}, not a {w}",
                      f"  hint: a gradient has its input's type and shape; {belongs}"])


def check(s: Solution, lab: Lab) -> None:
    q, k_t, v = head_inputs(tiny(lab), HEAD)
    scale = 1.0 / math.sqrt(q.n_cols)
    scores = (q @ k_t) * scale
    check_softmax(s, scores, masked=True)
    check_softmax(s, scores, masked=False)
    check_weights(s, q, k_t)
    check_head(s, q, k_t, v)


def check_softmax(s: Solution, scores: Tensor[Seq, Ctx], masked: bool) -> None:
    offset = 0 if masked else None
    p = scores.softmax_rows(causal_offset=offset)
    dp = upstream(p.n_rows, p.n_cols, 0)
    want = backprop.softmax_rows_backward(dp, p)
    which = "head 1's attention weights (causal)" if masked else "a softmax of head 1's scores without the mask"
    what = f"softmax_rows_backward(dp, p), p = {which}: ds"
    got = s.call("softmax_rows_backward", dp, p)
    f = summed_against(dp, lambda: scores.softmax_rows(causal_offset=offset))

    def wrong() -> dict[str, object]:
        found: dict[str, object] = {hint: mistake(dp, p) for hint, mistake in SOFTMAX_MISTAKES.items()}
        if not masked:
            found[MASKED_AGAIN] = masked_again(dp, p)
        return found

    check_all([Case(what, want, lambda: got, wrong,
                    numeric=finite_difference("s", scores, f, "the sum of dp times the softmax of the scores s"))])


def check_weights(s: Solution, q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx]) -> None:
    p = model.attention_weights(q, k_t)
    dp = upstream(p.n_rows, p.n_cols, 1)
    want = backprop.attention_weights_backward(dp, q, k_t, p)
    what = "attention_weights_backward(dp, q, k_t, p) for head 1"
    got = returned(what, s.call("attention_weights_backward", dp, q, k_t, p), 2)
    structure(what, got, want, ("dq", "dk_t"))
    f = summed_against(dp, lambda: model.attention_weights(q, k_t))
    described = "the sum of dp times attention_weights(q, K^T)"
    check_all([
        Case(f"{what}: dq", want[0], lambda: got[0], lambda: weights_variants(dp, q, k_t, p, 0),
             numeric=finite_difference("q", q, f, described)),
        Case(f"{what}: dk_t", want[1], lambda: got[1], lambda: weights_variants(dp, q, k_t, p, 1),
             shapes={(k_t.n_out, k_t.n_in): "dK^T is transposed: dK^T = q^T @ d(q @ K^T), K^T's shape (head_dim x keys)"},
             numeric=finite_difference("K^T", k_t, f, described)),
    ])


def check_head(s: Solution, q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx], v: Weight[Ctx, HeadDim]) -> None:
    dy = upstream(q.n_rows, q.n_cols, 2)
    want = backprop.attention_backward(dy, q, k_t, v)
    what = "attention_backward(dy, q, k_t, v) for head 1"
    got = returned(what, s.call("attention_backward", dy, q, k_t, v), 3)
    structure(what, got, want, ("dq", "dk_t", "dv"))
    f = summed_against(dy, lambda: model.attention(q, k_t, v))
    described = "the sum of dy times attention(q, K^T, V)"
    check_all([
        Case(f"{what}: dq", want[0], lambda: got[0], lambda: head_variants(dy, q, k_t, v, 0),
             numeric=finite_difference("q", q, f, described)),
        Case(f"{what}: dk_t", want[1], lambda: got[1], lambda: head_variants(dy, q, k_t, v, 1),
             shapes={(k_t.n_out, k_t.n_in): "dK^T is transposed: dK^T = q^T @ d(q @ K^T), K^T's shape (head_dim x keys)"},
             numeric=finite_difference("K^T", k_t, f, described)),
        Case(f"{what}: dv", want[2], lambda: got[2], lambda: head_variants(dy, q, k_t, v, 2),
             shapes={(v.n_out, v.n_in): "dV is transposed: out = p @ V, so dV = p^T @ dy (V's shape, keys x head_dim); "
                                        "dy^T @ p is its transpose"},
             numeric=finite_difference("V", v, f, described)),
    ])
