"""Exercise 14: the backward pass of a linear layer.                      (about 25 minutes)

What it does
    Backpropagation hands every stage dy = d loss / d (its output) and asks for two things:
    dx = d loss / d (its input), to hand on to the stage below, and d loss / d (its parameters),
    to learn with.  For y = x @ W + b that is three products of what the layer already saw.

The formulas (x: T x I, W: I x O, b: 1 x O added to every row; the chain rule, entry by entry)
    y[t][j] = sum_i x[t][i] W[i][j] + b[j]
    dx[t][i] = sum_j dy[t][j] W[i][j]      so  dx = dy @ W^T       (T x O times O x I)
    dW[i][j] = sum_t x[t][i] dy[t][j]      so  dW = x^T @ dy       (I x T times T x O)
    db[j]    = sum_t dy[t][j]              so  db = dy's rows added up: b was added to every row
    dW and db are sums over the rows: every token used the same W and b, and each adds its part.

The shapes decide it
    dW must have W's shape, I x O.  Of the products of x (T x I) and dy (T x O), only x^T @ dy
    has it; dy^T @ x is its transpose (O x I).  Likewise dx must be T x I, and dy @ W^T is the
    only product that is.  mypy knows the shapes, so it accepts only the right products.

Adding, never assigning
    `grad` is a gradient buffer shaped like the layer (a Linear[I, O]).  Add into it:
    accumulate(grad.weight, dw) and accumulate(grad.bias, db) (potatogpt.backward's, `+=` for
    tensors, which checks the shapes agree).  The buffer may already hold the gradient of an
    earlier row of the batch; writing over it would lose that.

The tools
    dy @ w.T: a Tensor times a Weight's transpose (Weight.T, a Weight[O, I]).  x.T @ dy: a Tensor
    times a Tensor.  weight_from_tensor(t) holds a Tensor[I, O] as a Weight[I, O].  dy.sum_rows()
    is a Tensor[One, O], the rows added up (or add them yourself, and from_rows(...)).

In potatogpt
    potatogpt/backward.py, `product_backward` and `linear_backward`.  (Training with the default
    storage runs a faster product_backward, in potatogpt/fast/training.py, with the same numbers.)

Stage 1, shapes: `python -m mypy exercises/ex14_linear_backward.py`.  Forget the transpose, and the
product does not exist:

        return dy @ w, weight_from_tensor(x.T @ dy)

    exercises/ex14_linear_backward.py:<line>: error: Unsupported operand types for @ ("Tensor[R, O]" and "Weight[I, O]")  [operator]

Take dW the wrong way round and mypy names both shapes, yours and W's:

        dw = weight_from_tensor(dy.T @ x)

    exercises/ex14_linear_backward.py:<line>: error: Incompatible return value type (got "tuple[Tensor[R, I], Weight[O, I]]", expected "tuple[Tensor[R, I], Weight[I, O]]")  [return-value]

(Passed straight to accumulate(grad.weight, ...) instead, the same slip gives a confusing message,
'Cannot infer value of type parameter "I" of "accumulate"': no I and O fit both shapes.)

Stage 2, values: `python -m exercises check 14`, against potatogpt's own gradients on a real layer
of the tiny checkpoint, and, where yours differ, against (f(w + h) - f(w - h)) / 2h, the
derivative's definition, with f = the sum of dy times the layer's output.  (Each value must
match to 1e-6 plus 1e-6 of its size.  Return new tensors; write only into `grad`.)
"""

from __future__ import annotations

from typing import TypeVar

from potatogpt.backward import accumulate
from potatogpt.model import Linear
from potatogpt.tensor import Seq, Tensor, Weight, weight_from_tensor

R = TypeVar("R", bound=int)
I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)


def product_backward(dy: Tensor[R, O], x: Tensor[R, I], w: Weight[I, O]) -> tuple[Tensor[R, I], Weight[I, O]]:
    """y = x @ W: return (dx, dW)."""
    raise NotImplementedError("exercise 14: write product_backward")


def linear_backward(dy: Tensor[Seq, O], x: Tensor[Seq, I], layer: Linear[I, O], grad: Linear[I, O]) -> Tensor[Seq, I]:
    """y = x @ W + b: add dW and db into grad, return dx."""
    raise NotImplementedError("exercise 14: write linear_backward")
