"""Exercise 19's check: transformer_block_backward on blocks 0 and 1 of tiny-prefixed, block 1
reading the stream block 0 wrote.  dx first, then every tensor of the Block buffer.

The known mistakes are each run as a whole backward pass (`undone`, with one thing done the
wrong way), so a hint names a mistake only when yours gives exactly its numbers: dx, or the
buffer tensor being compared."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from potatogpt import backward, model
from potatogpt.config import GPT2Config
from potatogpt.model import Block
from potatogpt.tensor import Embed, Seq, Tensor

from . import backprop
from .backward_checks import (buffer_cases, check_all, copied, finite_difference, named_vectors, prefilled, rows_of,
                              summed_against, tensor_at, tiny, upstream)
from .grader import Case, Lab, Solution, all_close, as_rows
from .inputs import stream

# Each known mistake: its hint, said as what is wrong and what to do.
MISTAKES = {
    "no ffn residual": "dx1 is only the MLP branch's gradient: y = x1 + ffn(ln_2(x1)) also passes dy straight "
                       "through, so dx1 = dy + layer_norm_backward(ffn_backward(dy, h2, ...), x1, ln_2, ...)",
    "no mha residual": "dx is only the attention branch's gradient: x1 = x + mha(ln_1(x)) also passes dx1 straight "
                       "through, so dx = dx1 + layer_norm_backward(mha_backward(dx1, h1, ...), x, ln_1, ...)",
    "no residuals": "neither residual passes its gradient straight through: dx1 = dy + (the MLP branch's), "
                    "dx = dx1 + (attention's branch's)",
    "dx is dx1": "dx is dx1, attention's branch left out: dx = dx1 + layer_norm_backward(mha_backward(dx1, h1, ...), "
                 "x, ln_1, ...)",
    "ln_2 reads x": "ln_2's backward was given x: ln_2 normalised x1 = x + mha(ln_1(x)), the stream after "
                    "attention; recompute x1 and pass it to layer_norm_backward",
    "ffn reads x1": "ffn_backward was given x1: the MLP read h2 = ln_2(x1), the normalised copy; pass h2",
    "mha reads x": "mha_backward was given x: attention read h1 = ln_1(x), the normalised copy; pass h1",
    "forward order": "the branches were undone in the forward pass's order, attention first from dy: the MLP came "
                     "last, so undo it first; attention's branch gets dx1 = dy + the MLP branch's gradient",
    "mha gets dy": "mha_backward was given dy: attention's output reaches the loss through x1, so it gets "
                   "dx1 = dy + the MLP branch's gradient, computed first",
    "norms swapped": "ln_1 and ln_2 swapped: the MLP's input was normalised by ln_2 (its gradient into grad.ln_2), "
                     "attention's by ln_1 (into grad.ln_1)",
    "buffers swapped": "ln_1's and ln_2's gradients went into each other's buffers: ln_2's backward adds into "
                       "grad.ln_2, ln_1's into grad.ln_1",
}


def undone(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], block: Block, grad: Block, config: GPT2Config,
           mistake: str) -> Tensor[Seq, Embed]:
    """The block's backward with one known mistake (named as in MISTAKES) made, adding into grad."""
    eps, n_head = config.layer_norm_epsilon, config.n_head
    h1 = model.layer_norm(x, block.ln_1, eps)
    x1 = x + model.mha(h1, block.attn, backprop.empty_cache(x.n_cols, n_head), n_head)
    h2 = model.layer_norm(x1, block.ln_2, eps)
    ln_1, ln_2, grad_ln_1, grad_ln_2 = block.ln_1, block.ln_2, grad.ln_1, grad.ln_2
    if mistake == "norms swapped":
        ln_1, ln_2, grad_ln_1, grad_ln_2 = ln_2, ln_1, grad_ln_2, grad_ln_1
    if mistake == "buffers swapped":
        grad_ln_1, grad_ln_2 = grad_ln_2, grad_ln_1
    if mistake == "forward order":
        d_mid = dy + backprop.layer_norm_backward(backprop.mha_backward(dy, h1, block.attn, grad.attn, n_head),
                                                  x, ln_1, eps, grad_ln_1)
        return d_mid + backprop.layer_norm_backward(backprop.ffn_backward(d_mid, h2, block.mlp, grad.mlp),
                                                    x1, ln_2, eps, grad_ln_2)
    d_h2 = backprop.ffn_backward(dy, x1 if mistake == "ffn reads x1" else h2, block.mlp, grad.mlp)
    branch = backprop.layer_norm_backward(d_h2, x if mistake == "ln_2 reads x" else x1, ln_2, eps, grad_ln_2)
    dx1 = branch if mistake in ("no ffn residual", "no residuals") else dy + branch
    d_h1 = backprop.mha_backward(dy if mistake == "mha gets dy" else dx1, x if mistake == "mha reads x" else h1,
                                 block.attn, grad.attn, n_head)
    branch = backprop.layer_norm_backward(d_h1, x, ln_1, eps, grad_ln_1)
    if mistake == "dx is dx1":
        return dx1
    return branch if mistake in ("no mha residual", "no residuals") else dx1 + branch


def check(s: Solution, lab: Lab) -> None:
    gpt = tiny(lab)
    config, h = gpt.config, gpt.params.h
    x = stream(gpt)
    after_0 = model.transformer_block(x, h[0], backprop.empty_cache(x.n_cols, config.n_head), config)
    check_block(s, "block 0", x, h[0], config, seed=0)
    check_block(s, "block 1", after_0, h[1], config, seed=1)


def check_block(s: Solution, name: str, x: Tensor[Seq, Embed], block: Block, config: GPT2Config, seed: int) -> None:
    dy = upstream(x.n_rows, x.n_cols, seed)
    before = prefilled(backward.zero_block(block), seed)
    want_grad, grad = copied(before), copied(before)
    want_dx = backprop.transformer_block_backward(dy, x, block, want_grad, config)
    what = f"transformer_block_backward(dy, x, {name}, grad, config)"
    got_dx = s.call("transformer_block_backward", dy, x, block, grad, config, changes=(3,))

    @cache
    def variants() -> Mapping[str, tuple[Tensor[Seq, Embed], Block]]:
        found = {}
        for mistake in MISTAKES:
            buffer = copied(before)
            found[mistake] = (undone(dy, x, block, buffer, config, mistake), buffer)
        return found

    def dx_variants() -> dict[str, object]:
        return {MISTAKES[m]: dx for m, (dx, _buffer) in variants().items()}

    def buffer_variants(part: str) -> dict[str, object]:
        # (The buffers are compared once dx is right: only the mistakes that leave dx right can explain them.)
        found: dict[str, object] = {MISTAKES[m]: rows_of(tensor_at(buffer, part)) for m, (dx, buffer) in variants().items()
                                    if all_close(as_rows(dx, "dx"), as_rows(want_dx, "dx"))}
        want, held = rows_of(tensor_at(want_grad, part)), rows_of(tensor_at(before, part))
        found[f"{part} was given this block's gradient twice: each backward piece adds into its buffer, so call "
              "each piece once (keep its dx in a variable)"] = [[2 * w - b for w, b in zip(rw, rb)]
                                                               for rw, rb in zip(want, held)]
        return found

    described = f"the sum of dy times transformer_block(x, {name})"
    f = summed_against(dy, lambda: model.transformer_block(x, block, backprop.empty_cache(x.n_cols, config.n_head),
                                                           config))
    check_all([Case(f"{what}: dx", want_dx, lambda: got_dx, dx_variants, numeric=finite_difference("x", x, f, described))])
    numeric = {part: finite_difference(part.removeprefix("grad."), tensor_at(block, part), f, described)
               for part, _vectors in named_vectors(before)}
    check_all(buffer_cases(what, grad, want_grad, before, numeric, buffer_variants))

