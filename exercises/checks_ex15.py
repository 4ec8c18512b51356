"""Exercise 15's check: gelu_backward on block 0's real pre-activations of tiny-prefixed (7 tokens
x 128 channels, negative and positive), and ffn_backward on block 0's real MLP input (layer_norm(
stream, ln_2)) through its real MLP, with an MLP gradient buffer already holding numbers."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from potatogpt import backward, model
from potatogpt.model import MLP
from potatogpt.tensor import Embed, Hidden, Seq, Tensor

from . import backprop
from .backward_checks import (buffer_cases, check_all, copied, finite_difference, prefilled, rows_of, summed_against,
                              tensor_at, tiny, upstream)
from .grader import Case, Lab, Solution
from .inputs import stream

C = math.sqrt(2.0 / math.pi)
K = 0.044715


def slope(v: float, *, chain: Callable[[float], float] = lambda v: C * (1.0 + 3.0 * K * v * v),
          tanh_prime: Callable[[float], float] = lambda t: 1.0 - t * t, first: bool = True, second: float = 0.5) -> float:
    """gelu'(v) = 0.5 (1 + t) + 0.5 v tanh'(u) du/dv, t = tanh(u), with the classic mistakes as options."""
    t = math.tanh(C * (v + K * v * v * v))
    return (0.5 * (1.0 + t) if first else 0.0) + second * v * tanh_prime(t) * chain(v)


def exact_slope(v: float) -> float:
    """The derivative of the exact GELU, x * Phi(x): Phi(x) + x * phi(x)."""
    return 0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) + v * math.exp(-0.5 * v * v) / math.sqrt(2.0 * math.pi)


def gelu_variants(dy: Tensor[Seq, Hidden], x: Tensor[Seq, Hidden]) -> dict[str, object]:
    def times_dy(f: Callable[[float], float]) -> Tensor[Seq, Hidden]:
        return dy.hadamard(x.map(f))

    return {
        "this is the derivative of the exact GELU, x * Phi(x) with erf: GPT-2's GELU is the tanh formula, so its "
        "slope is 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 * 0.044715 x^2), t = tanh(c (x + 0.044715 x^3))":
            times_dy(exact_slope),
        "the chain factor of tanh(u) is missing: d/dx tanh(u) = (1 - t^2) * du/dx, du/dx = c (1 + 3 * 0.044715 x^2)":
            times_dy(lambda v: slope(v, chain=lambda v: 1.0)),
        "du/dx is only c: u = c (x + 0.044715 x^3), so du/dx = c (1 + 3 * 0.044715 x^2)":
            times_dy(lambda v: slope(v, chain=lambda v: C)),
        "du/dx lost its c: u = c (x + 0.044715 x^3), so du/dx = c (1 + 3 * 0.044715 x^2), c = sqrt(2 / pi)":
            times_dy(lambda v: slope(v, chain=lambda v: 1.0 + 3.0 * K * v * v)),
        "the 3 of du/dx is missing: the derivative of 0.044715 x^3 is 3 * 0.044715 x^2":
            times_dy(lambda v: slope(v, chain=lambda v: C * (1.0 + K * v * v))),
        "tanh' was taken as 1 - tanh(u): it is 1 - tanh(u)^2":
            times_dy(lambda v: slope(v, tanh_prime=lambda t: 1.0 - t)),
        "only the first term of the product rule: gelu = 0.5 x (1 + tanh(u)) is a product, so gelu' also has "
        "0.5 x (1 - t^2) du/dx": times_dy(lambda v: slope(v, second=0.0)),
        "only the second term of the product rule: gelu' also has 0.5 (1 + tanh(u)), from the derivative of 0.5 x":
            times_dy(lambda v: slope(v, first=False)),
        "the second term lost its 0.5: 0.5 x (1 + tanh(u)) gives 0.5 x (1 - t^2) du/dx":
            times_dy(lambda v: slope(v, second=1.0)),
        "this is gelu'(x) alone: multiply it by dy, entry by entry (dx = dy * gelu'(x), the chain rule)":
            x.map(slope),
        "gelu' was taken at the output, gelu(x): take it at the input x, where the forward pass took gelu":
            dy.hadamard(model.gelu(x).map(slope)),
        "this is dy * gelu(x), the forward's value: dx = dy * gelu'(x), the slope": dy.hadamard(model.gelu(x)),
    }


def check(s: Solution, lab: Lab) -> None:
    gpt = tiny(lab)
    block = gpt.params.h[0]
    x = model.layer_norm(stream(gpt), block.ln_2, gpt.config.layer_norm_epsilon)  # (block 0's MLP input)
    pre = model.linear(x, block.mlp.c_fc)  # (its pre-activations)
    check_gelu(s, pre)
    check_ffn(s, x, block.mlp)


def check_gelu(s: Solution, pre: Tensor[Seq, Hidden]) -> None:
    dy = upstream(pre.n_rows, pre.n_cols, 15)
    want = backprop.gelu_backward(dy, pre)
    what = "gelu_backward(dy, block 0's MLP pre-activations)"
    got = s.call("gelu_backward", dy, pre)
    f = summed_against(dy, lambda: model.gelu(pre))
    check_all([Case(what, want, lambda: got, lambda: gelu_variants(dy, pre),
                    numeric=finite_difference("x", pre, f, "the sum of dy times gelu(x)"))])


MISTAKES: Mapping[str, tuple[str, str]] = {  # hint -> (GELU's backward taken at, c_proj's backward given)
    "gelu_backward was given the post-activation act = gelu(pre): give it GELU's input, pre": ("act", "act"),
    "c_proj's linear_backward was given pre: give it c_proj's input in the forward pass, act = gelu(pre)":
        ("pre", "pre"),
    "the GELU's backward was skipped: d_pre = backprop.gelu_backward(d_act, pre), between the two linear layers":
        ("skipped", "act"),
}


def ffn_variant(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], mlp: MLP, before: MLP, gelu_at: str,
                proj_input: str) -> tuple[Tensor[Seq, Embed], MLP]:
    """ffn_backward with GELU's backward taken at `gelu_at` ("pre", "act", or "skipped") and c_proj's
    backward given `proj_input` ("act" or "pre"): dx and the buffer it leaves."""
    grad = copied(before)
    pre = model.linear(x, mlp.c_fc)
    act = model.gelu(pre)
    d_act = backward.linear_backward(dy, act if proj_input == "act" else pre, mlp.c_proj, grad.c_proj)
    d_pre = d_act if gelu_at == "skipped" else backward.gelu_backward(d_act, pre if gelu_at == "pre" else act)
    return backward.linear_backward(d_pre, x, mlp.c_fc, grad.c_fc), grad


def check_ffn(s: Solution, x: Tensor[Seq, Embed], mlp: MLP) -> None:
    dy = upstream(x.n_rows, x.n_cols, 16)
    before = prefilled(backward.zero_mlp(mlp))
    want_grad, grad = copied(before), copied(before)
    want_dx = backprop.ffn_backward(dy, x, mlp, want_grad)
    what = "ffn_backward(dy, block 0's MLP input, block 0's mlp, grad)"
    got_dx = s.call("ffn_backward", dy, x, mlp, grad, changes=(3,))
    variants = {hint: ffn_variant(dy, x, mlp, before, *how) for hint, how in MISTAKES.items()}
    f = summed_against(dy, lambda: model.ffn(x, mlp))
    said = "the sum of dy times ffn(x)"
    check_all([Case(f"{what}: dx", want_dx, lambda: got_dx, lambda: {hint: dx for hint, (dx, _) in variants.items()},
                    {(x.n_rows, mlp.c_fc.weight.n_out): "that is the gradient of c_fc's output (4 x n_embd channels): "
                     "go on through backprop.linear_backward(d_pre, x, mlp.c_fc, grad.c_fc), down to x"},
                    numeric=finite_difference("x", x, f, said))])

    def wrong(name: str) -> dict[str, object]:
        return {hint: rows_of(tensor_at(buffer, name)) for hint, (_, buffer) in variants.items()}

    check_all(buffer_cases(what, grad, want_grad, before, {
        "grad.c_fc.weight": finite_difference("W_fc", mlp.c_fc.weight, f, said),
        "grad.c_fc.bias": finite_difference("b_fc", mlp.c_fc.bias, f, said),
        "grad.c_proj.weight": finite_difference("W_proj", mlp.c_proj.weight, f, said),
        "grad.c_proj.bias": finite_difference("b_proj", mlp.c_proj.bias, f, said),
    }, wrong))
