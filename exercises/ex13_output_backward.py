"""Exercise 13: tied output layer and embeddings, backward.                (about 25 minutes)

What it does
    The two ends of GPT-2, backwards.  At the top, the output layer (exercise 9) turned the
    last block's output x into logits; its backward takes d_logits (exercise 12's gradient)
    and returns dx for the blocks below, adding the gradients of ln_f and of the output
    weight.  At the bottom, the embedding (exercise 2) looked up one row of wte and one of wpe
    per token; its backward hands each row of dx back to those two rows.

The output layer (the forward pass: normed = layer_norm(x, ln_f), logits = normed @ W with W = wte^T)
    It is a product, so exercise 14's formulas, with normed as the input and W = wte^T:
        d_normed = d_logits @ W^T = d_logits @ (wte^T)^T        (R x Vocab times Vocab x Embed)
        dW       = normed^T @ d_logits                          (Embed x R times R x Vocab: W's shape)
    dW is the gradient of wte^T, so it goes into grad.wte.T, the Weight[Embed, Vocab] view of
    the token table's buffer (Embedding.T is the table itself, not a copy: adding into it adds
    into grad.wte).  It needs normed, the product's input, not x: recompute it with
    model.layer_norm(x, params.ln_f, config.layer_norm_epsilon).  Then the layer norm:
        dx = backprop.layer_norm_backward(d_normed, x, params.ln_f, eps, grad.ln_f)
    which adds ln_f's two gradients into grad.ln_f and returns dx.  (Or let exercise 14's piece
    do the product: backprop.product_backward(d_logits, normed, params.wte.T) gives
    (d_normed, dW).)

The embedding (the forward pass: row i = wte[ids[i]] + wpe[start + i])
    Row i of the output is a sum of two table rows, so a sum's slope, 1, for each:
        grad.wte's row ids[i]    += dx[i]
        grad.wpe's row start + i += dx[i]
    Positions count from `start` (the first token's position), not from 0.  A table's rows are
    the columns of its .T: grad.wte.T.columns[token] is the list holding grad.wte's row `token`
    (add into it in place: table[token][:] = [a + b for a, b in zip(table[token], d)]).

Why wte gets two gradients (weight tying)
    wte is used twice: looked up at the bottom, and multiplied by at the top (its transpose is
    the output layer).  A parameter used twice gets the sum of both uses' gradients, so
    lm_head_backward adds dW into grad.wte first, and embed_backward, at the end of the
    backward pass, adds the lookup's rows to what is there.  Neither may overwrite it.

Adding, never assigning
    Every gradient goes into `grad` (a whole Params buffer) with +=.  The buffer may hold an
    earlier row's gradient, and grad.wte the other use's.  A token that occurs twice in ids gets
    both rows of dx added to its one row of grad.wte, one after the other.  lm_head_backward
    touches only grad.wte and grad.ln_f; embed_backward only grad.wte and grad.wpe.

The tools
    accumulate(into, delta) (potatogpt.backward's: += for a Weight, checking the shapes agree);
    weight_from_tensor(t) holds a Tensor[Embed, Vocab] as a Weight[Embed, Vocab]; w.T the
    transpose of a Weight; t.T of a Tensor.

Earlier pieces
    `model.layer_norm` (forward), and through `backprop.` (from exercises import backprop):
    backprop.layer_norm_backward (exercise 16), and backprop.product_backward (exercise 14) if
    you like.  While you are graded these are potatogpt's; in `python -m exercises train` the
    ones you have passed are yours.

In potatogpt
    potatogpt/backward.py, `lm_head_backward` (it takes the forward pass's recording instead of
    x, and reads normed from it; exercises/backprop.py's has the lesson's signature) and
    `embed_backward` (with `lookup_backward`); `row_backward` calls them first and last.

Stage 1, shapes: `python -m mypy exercises/ex13_output_backward.py`.  Copy the forward pass's product,
and the transpose that the backward needs is missing (d_logits has one column per token, and
wte^T takes n_embd rows):

        d_normed = d_logits @ params.wte.T

    exercises/ex13_output_backward.py:<line>: error: Unsupported operand types for @ ("Tensor[R, Vocab]" and "Weight[Embed, Vocab]")  [operator]

    (with a second error where d_normed is used next: it follows from the first.)  dx = dy @ W^T
    with W = wte^T is d_logits @ params.wte.T.T.

Stage 2, values: `python -m exercises check 13`, on the tiny checkpoint's real final hidden
states for a row of 7 tokens in which a token occurs twice, and embed_backward also with start > 0,
with a buffer already holding numbers; against potatogpt's own gradients, and, where yours differ,
against (f(w + h) - f(w - h)) / 2h, the finite difference, with f = the sum of dy times the stage's
output.  (Each value must match to 1e-6 plus 1e-6 of its size.  Return new tensors; write only into
`grad`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from exercises import backprop
from potatogpt import model
from potatogpt.backward import accumulate
from potatogpt.config import GPT2Config
from potatogpt.model import Params
from potatogpt.tensor import Embed, Seq, Tensor, Vocab, weight_from_tensor

R = TypeVar("R", bound=int)


def lm_head_backward(d_logits: Tensor[R, Vocab], x: Tensor[R, Embed], params: Params, grad: Params,
                     config: GPT2Config) -> Tensor[R, Embed]:
    """logits = layer_norm(x, ln_f) @ wte^T: add wte's and ln_f's gradients into grad, return dx."""
    raise NotImplementedError("exercise 13: write lm_head_backward")


def embed_backward(dx: Tensor[Seq, Embed], ids: Sequence[int], start: int, grad: Params) -> None:
    """Row i = wte[ids[i]] + wpe[start + i]: add row i of dx into both rows of grad."""
    raise NotImplementedError("exercise 13: write embed_backward")
