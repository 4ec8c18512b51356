"""Exercise 18's check: mha_backward on tiny-prefixed's block 0 (4 heads of head_dim 8), its
attention's real input (ln_1 of the stream), first for 8 tokens, then for 7.

With 8 tokens a head's K^T is 8 x 8, so a key gradient read the wrong way (dk_t's rows taken
for the keys', as V's are) has the right shape and gives numbers a hint can name; with 7 the
same slip stops at a shape.  The known mistakes are potatogpt's backward with one step changed:
d_qkv put together in another order, the heads handed dy instead of c_proj's backward, a head's
dK^T or dV read the wrong way round."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from potatogpt import backward, model
from potatogpt.model import Attention
from potatogpt.tensor import Embed, HeadDim, Qkv, Seq, Tensor, concat_columns, transpose

from . import backprop
from .backward_checks import (buffer_cases, check_all, copied, finite_difference, prefilled, rows_of, summed_against,
                              tensor_at, tiny, upstream)
from .grader import Case, Lab, Solution
from .inputs import IDS, stream

SQUARE_IDS = [*IDS, 77]  # 8 tokens: as many as a head's columns


@dataclass(frozen=True)
class Slip:
    """One step of mha_backward done wrong (the defaults: every step right)."""

    heads_get_dy: bool = False  # the heads were handed dy, not c_proj's backward's dx
    order: str = "qkv"  # the order of the three blocks of d_qkv
    interleaved: bool = False  # d_qkv built head by head: q_0 | k_0 | v_0 | q_1 ...
    heads_reversed: bool = False  # the heads' gradients put back last head first
    dk_as_dv: bool = False  # dk_h built from dk_t's rows (as V's gradient is read), not its columns
    dv_as_dk: bool = False  # dv_h built from dV's columns (as K^T's gradient is read), not its rows


def mistaken(slip: Slip, dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], attn: Attention, before: Attention,
             n_head: int) -> tuple[Tensor[Seq, Embed], Attention]:
    """potatogpt's mha backward with `slip` made: dx, and the buffer it leaves (from `before`)."""
    grad = copied(before)
    seq, head_dim = x.n_rows, HeadDim(x.n_cols // n_head)
    q, k, v = model.linear(x, attn.c_attn).split_columns(3, x.n_cols)
    q_heads, k_heads, v_heads = (t.split_columns(n_head, head_dim) for t in (q, k, v))
    caches = [backprop.keys_and_values(k_h, v_h) for k_h, v_h in zip(k_heads, v_heads)]
    joined = concat_columns([model.attention(q_h, k_t, values) for q_h, (k_t, values) in zip(q_heads, caches)],
                            x.n_cols)
    d_joined = backward.linear_backward(dy, joined, attn.c_proj, grad.c_proj)
    if slip.heads_get_dy:
        d_joined = dy
    blocks: dict[str, list[Tensor[Seq, HeadDim]]] = {"q": [], "k": [], "v": []}
    for q_h, (k_t, values), d_head in zip(q_heads, caches, d_joined.split_columns(n_head, head_dim)):
        dq_h, dk_t, dv_h = backprop.attention_backward(d_head, q_h, k_t, values)
        key_rows = transpose(dk_t.columns, head_dim) if slip.dk_as_dv else dk_t.columns
        value_rows = dv_h.columns if slip.dv_as_dk else transpose(dv_h.columns, seq)
        blocks["q"].append(dq_h)
        blocks["k"].append(Tensor(seq, head_dim, [list(row) for row in key_rows]))
        blocks["v"].append(Tensor(seq, head_dim, [list(row) for row in value_rows]))
    if slip.heads_reversed:
        blocks = {name: parts[::-1] for name, parts in blocks.items()}
    if slip.interleaved:
        parts = [part for head in zip(*(blocks[name] for name in slip.order)) for part in head]
    else:
        parts = [part for name in slip.order for part in blocks[name]]
    d_qkv = concat_columns(parts, Qkv(3 * x.n_cols))
    return backward.linear_backward(d_qkv, x, attn.c_attn, grad.c_attn), grad


def slips(square: bool) -> dict[str, Slip]:
    found = {
        "d_qkv was put together head by head (q_0 | k_0 | v_0 | q_1 ...): qkv was cut into q | k | v first and each "
        "of those into heads, so its gradient is every head's dq, then every dk, then every dv: "
        "concat_columns(dq + dk + dv, Qkv(3 * x.n_cols))": Slip(interleaved=True),
        "the heads' gradients went back last head first: head h's gradients belong in head h's columns, "
        "h * head_dim onwards, as split_columns cut them": Slip(heads_reversed=True),
        "the heads were handed dy itself: c_proj came last in the forward pass, so its backward comes first, "
        "d_joined = backprop.linear_backward(dy, joined, attn.c_proj, grad.c_proj), and the heads get d_joined's "
        "columns": Slip(heads_get_dy=True),
    }
    for order in ("qvk", "kqv", "kvq", "vqk", "vkq"):
        blocks = " | ".join(f"d{name}" for name in order)
        found[f"d_qkv's blocks are in the order {blocks}: qkv was cut into q | k | v, so its gradient is "
              "dq | dk | dv, in that order"] = Slip(order=order)
    if square:
        found["a head's dk was read from dk_t's rows, as dV's are: dk_t is K^T's gradient, and key j was K^T's "
              "column j, so dk_h's row j is dk_t's column j: from_rows(dk_t.columns, x.n_rows, head_dim)"] = (
            Slip(dk_as_dv=True))
        found["a head's dv was read from dV's columns, as dk_t's are: value j was V's row j, so dv_h's rows are "
              "dV's rows (a Weight keeps its columns: from_columns(dv.columns, x.n_rows, head_dim))"] = (
            Slip(dv_as_dk=True))
    return found


def check(s: Solution, lab: Lab) -> None:
    gpt = tiny(lab)
    block = gpt.params.h[0]
    for seed, ids in enumerate((SQUARE_IDS, IDS)):
        x = model.layer_norm(stream(gpt, ids), block.ln_1, gpt.config.layer_norm_epsilon)
        check_row(s, x, block.attn, gpt.config.n_head, seed)


def check_row(s: Solution, x: Tensor[Seq, Embed], attn: Attention, n_head: int, seed: int) -> None:
    dy = upstream(x.n_rows, x.n_cols, seed)
    before = prefilled(backward.zero_attention(attn),
                       seed + 1)
    want_grad, grad = copied(before), copied(before)
    want_dx = backprop.mha_backward(dy, x, attn, want_grad, n_head)
    what = f"mha_backward(dy, x, block 0's attn, grad, n_head={n_head}) for {x.n_rows} tokens"
    got_dx = s.call("mha_backward", dy, x, attn, grad, n_head, changes=(3,))
    f = summed_against(dy, lambda: model.mha(x, attn, backprop.empty_cache(x.n_cols, n_head), n_head))
    described = "the sum of dy times mha(x)"

    known: dict[str, tuple[Tensor[Seq, Embed], Attention]] = {}

    def variants() -> Mapping[str, tuple[Tensor[Seq, Embed], Attention]]:
        if not known:  # (computed once, when a value is wrong, and shared by every tensor's case)
            square = x.n_rows == x.n_cols // n_head
            known.update({hint: mistaken(slip, dy, x, attn, before, n_head) for hint, slip in slips(square).items()})
        return known

    def wrong(name: str) -> dict[str, object]:
        return {hint: rows_of(tensor_at(buffer, name)) for hint, (_dx, buffer) in variants().items()}

    def wrong_dx() -> dict[str, object]:
        return {hint: dx for hint, (dx, _buffer) in variants().items()}

    check_all([Case(f"{what}: dx", want_dx, lambda: got_dx, wrong_dx,
                    numeric=finite_difference("x", x, f, described))])
    check_all(buffer_cases(what, grad, want_grad, before, {
        "grad.c_attn.weight": finite_difference("c_attn's W", attn.c_attn.weight, f, described),
        "grad.c_attn.bias": finite_difference("c_attn's b", attn.c_attn.bias, f, described),
        "grad.c_proj.weight": finite_difference("c_proj's W", attn.c_proj.weight, f, described),
        "grad.c_proj.bias": finite_difference("c_proj's b", attn.c_proj.bias, f, described),
    }, wrong))
