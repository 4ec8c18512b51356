"""Exercise 4: layer norm.                                                 (about 20 minutes)

What it does
    Before attention and before the MLP, every token's vector is rescaled to mean 0 and
    variance 1 (so no layer sees numbers that have drifted huge or tiny), then stretched and
    shifted by two learned vectors, the gain and the bias.  Each row (token) is normalised on
    its own, over its columns (channels).

The formula, for one row x of n numbers
    mean = sum(x) / n
    var  = sum((x_j - mean)**2) / n              (divide by n, not n - 1)
    y_j  = (x_j - mean) / sqrt(var + eps) * gain_j + bias_j
    eps (1e-5 in GPT-2) keeps the division safe when a row is nearly constant.  It is a
    parameter: use the `eps` you are given (the grader passes another one too, and a row whose
    values are all equal).

The shapes
    x: Tensor[R, Embed] (R is any number of rows); ln.weight (the gain) and ln.bias are
    Tensor[One, Embed], read them with `.row(0)`.  `x.rows` is the data as lists of floats;
    `from_rows(rows, x.n_rows, x.n_cols)` turns your lists back into a Tensor[R, Embed].

In potatogpt
    potatogpt/model.py, `layer_norm`, which calls Tensor.layer_norm in potatogpt/tensor.py.

Stage 1, shapes: `python -m mypy exercises/ex04_layer_norm.py`.  Your lists of floats are not a tensor
yet; return them as they are and mypy says so:

        return out

    exercises/ex04_layer_norm.py:<line>: error: Incompatible return value type (got "list[list[float]]", expected "Tensor[R, Embed]")  [return-value]

Stage 2, values: `python -m exercises check 4` (each value must match potatogpt's to
1e-6 plus 1e-6 of its size; rounding differs by less than 1e-12, so anything the grader reports
is a real difference.  Build new lists for your results: never write into a tensor's rows or an
argument's lists, which the grader reports as a verdict of its own).
"""

from __future__ import annotations

import math
from typing import TypeVar

from potatogpt.model import LayerNorm
from potatogpt.tensor import Embed, Tensor, from_rows

R = TypeVar("R", bound=int)


def layer_norm(x: Tensor[R, Embed], ln: LayerNorm, eps: float) -> Tensor[R, Embed]:
    """Each row to mean 0 and variance 1, then times ln.weight plus ln.bias."""
    raise NotImplementedError("exercise 4: write layer_norm")
