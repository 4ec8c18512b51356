"""Exercise 15 (GELU and the MLP, backward): wrong solutions as students write them."""

from __future__ import annotations

import math

from exercises import backprop
from potatogpt import model
from potatogpt.model import MLP
from potatogpt.tensor import Embed, Hidden, Seq, Tensor

from .students import Student


def gelu_backward_exact_erf(dy: Tensor[Seq, Hidden], x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    """GELU is x * Phi(x), so its derivative is Phi(x) + x * phi(x): the textbook's, not GPT-2's formula."""
    def slope(v: float) -> float:
        phi = math.exp(-v * v / 2.0) / math.sqrt(2.0 * math.pi)
        return 0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) + v * phi

    return dy.hadamard(x.map(slope))


def gelu_backward_no_three(dy: Tensor[Seq, Hidden], x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    """du/dx copied from u itself, with x^3 turned into x^2 but the 3 left behind."""
    c = math.sqrt(2.0 / math.pi)

    def slope(v: float) -> float:
        t = math.tanh(c * (v + 0.044715 * v**3))
        return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t**2) * c * (1.0 + 0.044715 * v**2)

    return dy.hadamard(x.map(slope))


def gelu_backward_no_chain(dy: Tensor[Seq, Hidden], x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    """tanh' = 1 - tanh^2 remembered, the derivative of what is inside the tanh forgotten."""
    c = math.sqrt(2.0 / math.pi)
    rows = []
    for row in x.rows:
        out = []
        for v in row:
            t = math.tanh(c * (v + 0.044715 * v * v * v))
            out.append(0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t))
        rows.append(out)
    return dy.hadamard(Tensor(x.n_rows, x.n_cols, rows))


def gelu_backward_slope_only(dy: Tensor[Seq, Hidden], x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    """The derivative, right, and returned as the answer: dy never comes in."""
    c = math.sqrt(2.0 / math.pi)

    def slope(v: float) -> float:
        t = math.tanh(c * (v + 0.044715 * v**3))
        return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * c * (1.0 + 3 * 0.044715 * v**2)

    return x.map(slope)


def gelu_backward_at_output(dy: Tensor[Seq, Hidden], x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    """"The slope of GELU where it ended up": gelu' of gelu(x)."""
    c = math.sqrt(2.0 / math.pi)

    def slope(v: float) -> float:
        t = math.tanh(c * (v + 0.044715 * v**3))
        return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * c * (1.0 + 3 * 0.044715 * v**2)

    return dy.hadamard(model.gelu(x).map(slope))


def ffn_backward_gelu_at_act(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], mlp: MLP, grad: MLP) -> Tensor[Seq, Embed]:
    """Only the activation kept (as a forward pass would), and GELU's backward taken there."""
    act = model.gelu(model.linear(x, mlp.c_fc))
    d_act = backprop.linear_backward(dy, act, mlp.c_proj, grad.c_proj)
    d_pre = backprop.gelu_backward(d_act, act)
    return backprop.linear_backward(d_pre, x, mlp.c_fc, grad.c_fc)


def ffn_backward_proj_given_pre(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], mlp: MLP, grad: MLP) -> Tensor[Seq, Embed]:
    """One hidden tensor passed everywhere (the types cannot tell pre from act)."""
    pre = model.linear(x, mlp.c_fc)
    d_act = backprop.linear_backward(dy, pre, mlp.c_proj, grad.c_proj)
    d_pre = backprop.gelu_backward(d_act, pre)
    return backprop.linear_backward(d_pre, x, mlp.c_fc, grad.c_fc)


def ffn_backward_forward_order(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], mlp: MLP, grad: MLP) -> Tensor[Seq, Embed]:
    """The stages undone in the order they ran (the lesson's mypy slip, run anyway)."""
    pre = model.linear(x, mlp.c_fc)
    act = model.gelu(pre)
    d_pre = backprop.linear_backward(dy, x, mlp.c_fc, grad.c_fc)  # type: ignore[misc]  # (wrong on purpose)
    d_act = backprop.gelu_backward(d_pre, pre)
    return backprop.linear_backward(d_act, act, mlp.c_proj, grad.c_proj)  # type: ignore[misc,arg-type]  # (wrong on purpose)


def ffn_backward_no_gelu(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], mlp: MLP, grad: MLP) -> Tensor[Seq, Embed]:
    """Two linear layers undone, "GELU has no parameters, so nothing to do"."""
    act = model.gelu(model.linear(x, mlp.c_fc))
    d_act = backprop.linear_backward(dy, act, mlp.c_proj, grad.c_proj)
    return backprop.linear_backward(d_act, x, mlp.c_fc, grad.c_fc)


STUDENTS = [
    Student(15, "gelu_backward", gelu_backward_exact_erf, "failed", "the derivative of the exact GELU"),
    Student(15, "gelu_backward", gelu_backward_no_three, "failed", "the 3 of du/dx is missing"),
    Student(15, "gelu_backward", gelu_backward_no_chain, "failed", "the chain factor of tanh(u) is missing"),
    Student(15, "gelu_backward", gelu_backward_slope_only, "failed", "this is gelu'(x) alone"),
    Student(15, "gelu_backward", gelu_backward_at_output, "failed", "gelu' was taken at the output"),
    Student(15, "ffn_backward", ffn_backward_gelu_at_act, "failed", "gelu_backward was given the post-activation"),
    Student(15, "ffn_backward", ffn_backward_proj_given_pre, "failed", "c_proj's linear_backward was given pre"),
    Student(15, "ffn_backward", ffn_backward_forward_order, "crashed", "check which matrix each product takes"),
    Student(15, "ffn_backward", ffn_backward_no_gelu, "failed", "the GELU's backward was skipped"),
]
