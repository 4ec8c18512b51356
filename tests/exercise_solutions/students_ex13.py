"""Exercise 13 (tied output layer and embeddings, backward): wrong solutions as students write them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from exercises import backprop
from potatogpt import model
from potatogpt.backward import accumulate
from potatogpt.config import GPT2Config
from potatogpt.model import Params
from potatogpt.tensor import Embed, Seq, Tensor, Vocab, weight_from_tensor

from .students import Student

R = TypeVar("R", bound=int)


def lm_head_backward_untied(d_logits: Tensor[R, Vocab], x: Tensor[R, Embed], params: Params, grad: Params,
                            config: GPT2Config) -> Tensor[R, Embed]:
    """"The output layer has no weights of its own" (it borrows wte), so no weight gradient here."""
    eps = config.layer_norm_epsilon
    return backprop.layer_norm_backward(d_logits @ params.wte.T.T, x, params.ln_f, eps, grad.ln_f)


def lm_head_backward_weight_from_x(d_logits: Tensor[R, Vocab], x: Tensor[R, Embed], params: Params, grad: Params,
                                   config: GPT2Config) -> Tensor[R, Embed]:
    """dW = input^T @ dy, with the function's input x taken for the product's input."""
    eps = config.layer_norm_epsilon
    accumulate(grad.wte.T, weight_from_tensor(x.T @ d_logits))
    return backprop.layer_norm_backward(d_logits @ params.wte.T.T, x, params.ln_f, eps, grad.ln_f)


def lm_head_backward_no_ln_f(d_logits: Tensor[R, Vocab], x: Tensor[R, Embed], params: Params, grad: Params,
                             config: GPT2Config) -> Tensor[R, Embed]:
    """The product's backward only: ln_f has no weights worth the trouble, it was thought."""
    normed = model.layer_norm(x, params.ln_f, config.layer_norm_epsilon)
    dx, dw = backprop.product_backward(d_logits, normed, params.wte.T)
    accumulate(grad.wte.T, dw)
    return dx


def lm_head_backward_table_shaped(d_logits: Tensor[R, Vocab], x: Tensor[R, Embed], params: Params, grad: Params,
                                  config: GPT2Config) -> Tensor[R, Embed]:
    """The gradient made table-shaped (one row per token), then added into the W^T view."""
    eps = config.layer_norm_epsilon
    normed = model.layer_norm(x, params.ln_f, eps)
    accumulate(grad.wte.T, weight_from_tensor(d_logits.T @ normed))  # type: ignore[misc]  # (wrong on purpose)
    return backprop.layer_norm_backward(d_logits @ params.wte.T.T, x, params.ln_f, eps, grad.ln_f)


def lm_head_backward_sets_wte(d_logits: Tensor[R, Vocab], x: Tensor[R, Embed], params: Params, grad: Params,
                              config: GPT2Config) -> Tensor[R, Embed]:
    """The output weight's gradient stored in the buffer, column by column."""
    eps = config.layer_norm_epsilon
    normed = model.layer_norm(x, params.ln_f, eps)
    dw = weight_from_tensor(normed.T @ d_logits)
    for column, new in zip(grad.wte.T.columns, dw.columns):
        column[:] = new
    return backprop.layer_norm_backward(d_logits @ params.wte.T.T, x, params.ln_f, eps, grad.ln_f)


def embed_backward_positions_from_zero(dx: Tensor[Seq, Embed], ids: Sequence[int], start: int, grad: Params) -> None:
    """Row i's position taken as i, as in a pass from the beginning."""
    tokens, positions = grad.wte.T.columns, grad.wpe.T.columns
    for i, d in enumerate(dx.rows):
        tokens[ids[i]][:] = [a + b for a, b in zip(tokens[ids[i]], d)]
        positions[i][:] = [a + b for a, b in zip(positions[i], d)]


def embed_backward_tokens_only(dx: Tensor[Seq, Embed], ids: Sequence[int], start: int, grad: Params) -> None:
    """"The embedding" read as the token table only."""
    tokens = grad.wte.T.columns
    for token, d in zip(ids, dx.rows):
        tokens[token][:] = [a + b for a, b in zip(tokens[token], d)]


def embed_backward_assigns(dx: Tensor[Seq, Embed], ids: Sequence[int], start: int, grad: Params) -> None:
    """Row i of the output came from row ids[i], so that row's gradient is row i of dx."""
    tokens, positions = grad.wte.T.columns, grad.wpe.T.columns
    for i, d in enumerate(dx.rows):
        tokens[ids[i]][:] = d
        positions[start + i][:] = d


def embed_backward_one_row_per_token(dx: Tensor[Seq, Embed], ids: Sequence[int], start: int, grad: Params) -> None:
    """Each token's gradient collected in a dict first, then added: a repeated token keeps one row."""
    by_token = {token: d for token, d in zip(ids, dx.rows)}
    tokens, positions = grad.wte.T.columns, grad.wpe.T.columns
    for token, d in by_token.items():
        tokens[token][:] = [a + b for a, b in zip(tokens[token], d)]
    for i, d in enumerate(dx.rows):
        positions[start + i][:] = [a + b for a, b in zip(positions[start + i], d)]


STUDENTS = [
    Student(13, "lm_head_backward", lm_head_backward_untied, "failed", "the output layer's weight IS the token table"),
    Student(13, "lm_head_backward", lm_head_backward_weight_from_x, "failed", "the output weight's gradient was taken with x"),
    Student(13, "lm_head_backward", lm_head_backward_no_ln_f, "failed", "ln_f's backward was skipped"),
    Student(13, "lm_head_backward", lm_head_backward_table_shaped, "crashed", "it is the transpose of what the buffer holds"),
    Student(13, "lm_head_backward", lm_head_backward_sets_wte, "failed", "grad.wte was overwritten"),
    Student(13, "embed_backward", embed_backward_positions_from_zero, "failed", "positions counted from 0"),
    Student(13, "embed_backward", embed_backward_tokens_only, "failed", "the position table was looked up too"),
    Student(13, "embed_backward", embed_backward_assigns, "failed", "grad.wte's rows were assigned, not added to"),
    Student(13, "embed_backward", embed_backward_one_row_per_token, "failed", "only its last row of dx was added"),
]
