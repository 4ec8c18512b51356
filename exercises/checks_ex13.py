"""Exercise 13's check: lm_head_backward on tiny-prefixed's real final hidden states for a row of
7 tokens in which token 17 occurs twice, and embed_backward on the same row from position 0 and
from position 5.  The gradient buffer is a whole Params, already holding numbers: each function
must add into the tensors it has a part in (lm_head_backward: grad.wte and grad.ln_f;
embed_backward: grad.wte and grad.wpe) and leave every other one as it was."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

from potatogpt import backward, model
from potatogpt.api import GPT2
from potatogpt.model import Params
from potatogpt.tensor import Embed, Seq, Tensor, Vocab

from . import backprop
from .backward_checks import (LEFT_ALONE, added, buffer_cases, check_all, copied, finite_difference, prefilled, rows_of,
                              summed_against, tiny, upstream)
from .grader import Case, Lab, Rows, Solution

IDS = [3, 17, 42, 17, 61, 29, 5]  # token 17 twice: its row of grad.wte gets two rows of dx
STARTS = (0, 5)  # embed_backward's first position: from the start, and after 5 cached positions

HEAD_TOUCHES = ("grad.wte", "grad.ln_f.weight", "grad.ln_f.bias")
EMBED_TOUCHES = ("grad.wte", "grad.wpe")


def check(s: Solution, lab: Lab) -> None:
    gpt = tiny(lab)
    check_lm_head(s, gpt)
    for seed, start in enumerate(STARTS):
        check_embed(s, gpt, start, seed)


# --- lm_head_backward -------------------------------------------------------------------------------
def check_lm_head(s: Solution, gpt: GPT2) -> None:
    params, config = gpt.params, gpt.config
    x = model.hidden_states(IDS, params, model.new_kv_cache(config), config)  # (the last block's output)
    d_logits = upstream(x.n_rows, Vocab(config.vocab_size), 0)
    before = prefilled(backward.zero_gradients(params))
    want_grad, grad = copied(before), copied(before)
    want_dx = backprop.lm_head_backward(copied(d_logits), copied(x), copied(params), want_grad, config)
    what = "lm_head_backward(d_logits, x of a row of 7 tokens, params, grad, config)"
    got_dx = s.call("lm_head_backward", d_logits, x, params, grad, config, changes=(3,))
    f = summed_against(d_logits, lambda: model.lm_head(x, params, config))
    said = "the sum of d_logits times lm_head(x)"
    check_all([Case(f"{what}: dx", want_dx, lambda: got_dx, lambda: head_dx_variants(d_logits, params),
                    numeric=finite_difference("x", x, f, said))])
    cases = buffer_cases(what, grad, want_grad, before, {
        "grad.wte": finite_difference("wte", params.wte, f, said),
        "grad.ln_f.weight": finite_difference("g", params.ln_f.weight, f, said),
        "grad.ln_f.bias": finite_difference("b", params.ln_f.bias, f, said),
    }, lambda name: head_variants(name, d_logits, x, before), only=HEAD_TOUCHES)
    check_all(retold(cases, {
        "grad.wte": "nothing was added into grad.wte: the output layer's weight IS the token table (weight tying), "
                    "so its gradient normed^T @ d_logits goes into grad.wte.T, added",
        "grad.ln_f.weight": LN_F_SKIPPED,
        "grad.ln_f.bias": LN_F_SKIPPED,
    }))


LN_F_SKIPPED = ("ln_f's backward was skipped: hand d_normed on to backprop.layer_norm_backward(d_normed, x, "
                "params.ln_f, eps, grad.ln_f), which adds ln_f's gradients and returns dx")


def head_dx_variants(d_logits: Tensor[Seq, Vocab], params: Params) -> dict[str, object]:
    return {"this is d_normed, the product's dx: ln_f's backward was skipped; dx = "
            "backprop.layer_norm_backward(d_normed, x, params.ln_f, eps, grad.ln_f)": d_logits @ params.wte.T.T}


def head_variants(name: str, d_logits: Tensor[Seq, Vocab], x: Tensor[Seq, Embed], before: Params) -> dict[str, Rows]:
    if name != "grad.wte":
        return {}
    return {"the output weight's gradient was taken with x; it is normed^T @ d_logits, with normed = "
            "model.layer_norm(x, params.ln_f, eps), the product's own input": added((d_logits.T @ x).rows, before.wte)}


# --- embed_backward -------------------------------------------------------------------------------
def check_embed(s: Solution, gpt: GPT2, start: int, seed: int) -> None:
    params = gpt.params
    dx = upstream(Seq(len(IDS)), params.wte.T.n_in, seed + 1)
    before = prefilled(backward.zero_gradients(params), seed + 2)
    want_grad, grad = copied(before), copied(before)
    backprop.embed_backward(copied(dx), list(IDS), start, want_grad)
    what = f"embed_backward(dx, ids with token 17 twice, start={start}, grad)"
    s.call("embed_backward", dx, list(IDS), start, grad, changes=(3,))
    f = summed_against(dx, lambda: model.embed(IDS, params, start))
    said = f"the sum of dx times embed(ids, params, {start})"
    cases = buffer_cases(what, grad, want_grad, before, {
        "grad.wte": finite_difference("wte", params.wte, f, said),
        "grad.wpe": finite_difference("wpe", params.wpe, f, said),
    }, lambda name: embed_variants(name, dx, start, before), only=EMBED_TOUCHES)
    check_all(retold(cases, {
        "grad.wte": "nothing was added into grad.wte: row i of dx goes into grad.wte's row ids[i] (the token's "
                    "row), as well as into grad.wpe's row start + i",
        "grad.wpe": "nothing was added into grad.wpe: the position table was looked up too, so row i of dx goes "
                    "into grad.wpe's row start + i as well",
    }))


def embed_variants(name: str, dx: Tensor[Seq, Embed], start: int, before: Params) -> dict[str, Rows]:
    rows, n = dx.rows, dx.n_rows
    positions = list(range(start, start + n))
    if name == "grad.wte":
        table = rows_of(before.wte)
        repeated = next(t for t in IDS if IDS.count(t) > 1)
        return {
            "grad.wte's rows were assigned, not added to: lm_head_backward put the output layer's gradient "
            "there first (wte is tied: used at the bottom and the top), so add row i of dx into row ids[i]":
                assigned(table, IDS, rows),
            f"token {repeated} occurs twice in ids, and only its last row of dx was added: every occurrence "
            "adds its own row (add them one after the other)": added(scattered(table, IDS, rows, last_only=True), table),
            f"token {repeated} occurs twice in ids, and only its first row of dx was added: every occurrence "
            "adds its own row (add them one after the other)": added(scattered(table, IDS, rows, first_only=True), table),
            "the tables are swapped: grad.wte takes the rows ids[i] (token ids), grad.wpe the rows start + i":
                added(scattered(table, positions, rows), table),
        }
    table = rows_of(before.wpe)
    found = {
        "grad.wpe's rows were assigned, not added to: add row i of dx into row start + i (the buffer may "
        "hold an earlier row's gradient)": assigned(table, positions, rows),
    }
    if max(IDS) < len(table):  # (token ids past the last position would have crashed)
        found["the tables are swapped: grad.wpe takes the rows start + i (positions), grad.wte the rows ids[i]"] = (
            added(scattered(table, IDS, rows), table))
    if start > 0:
        found[f"positions counted from 0: the first token is at position start = {start}, so row i of dx goes "
              "into grad.wpe's row start + i"] = added(scattered(table, list(range(n)), rows), table)
    return found


def scattered(table: Rows, indices: Sequence[int], rows: Rows, last_only: bool = False,
              first_only: bool = False) -> Rows:
    """Zeros shaped like `table`, with each row of `rows` added at its index (one row per index
    when last_only or first_only)."""
    out = [[0.0] * len(r) for r in table]
    pairs = list(zip(indices, rows))
    if last_only:
        pairs = list({index: row for index, row in pairs}.items())
    if first_only:
        pairs = list({index: row for index, row in reversed(pairs)}.items())
    for index, row in pairs:
        out[index] = [a + b for a, b in zip(out[index], row)]
    return out


def assigned(table: Rows, indices: Sequence[int], rows: Rows) -> Rows:
    out = [list(r) for r in table]
    for index, row in zip(indices, rows):
        out[index] = list(row)
    return out


# --- Saying more than "left alone" where the lesson has a reason --------------------------------------
def retold(cases: list[Case], left_alone: Mapping[str, str]) -> list[Case]:
    """The buffer's cases, with the generic "nothing was added into grad.X" replaced by the reason
    this exercise knows (so one mistake gives one hint)."""
    out = []
    for case in cases:
        name = case.what.rsplit(": ", 1)[-1]
        if name in left_alone and case.wrong is not None:
            case = dataclasses.replace(case, wrong=reasoned(case.wrong, LEFT_ALONE.format(name=name), left_alone[name]))
        out.append(case)
    return out


def reasoned(wrong: Callable[[], Mapping[str, object]], generic: str, reason: str) -> Callable[[], Mapping[str, object]]:
    def variants() -> Mapping[str, object]:
        found = dict(wrong())
        if generic in found:
            found[reason] = found.pop(generic)
        return found
    return variants
