"""Exercise 3: GELU, the nonlinearity inside the MLP.                      (about 10 minutes)

What it does
    Without a nonlinearity, two linear layers are just one linear layer.  GELU lets small and
    negative values through a little and large positive ones almost unchanged: x * Phi(x),
    where Phi is the normal distribution's CDF.  GPT-2 uses the tanh approximation of it, and
    you must too, or your numbers will differ from GPT-2's in the fourth decimal.

The formula (element by element)
    gelu(x) = 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))

The shapes
    Tensor[Seq, Hidden] -> Tensor[Seq, Hidden].  `x.map(f)` applies a float -> float function
    to every element and keeps the type.

In potatogpt
    potatogpt/model.py, `gelu`.

Stage 1, shapes: `python -m mypy exercises/ex03_gelu.py`.  Tensors multiply with `@` (a matrix product)
or by a number; an element-by-element product of two tensors is not an operation:

        return x * x.map(lambda v: 0.5 * (1.0 + math.tanh(c * (v + 0.044715 * v**3))))

    exercises/ex03_gelu.py:<line>: error: Unsupported operand types for * ("Tensor[Seq, Hidden]" and "Tensor[Seq, Hidden]")  [operator]

Stage 2, values: `python -m exercises check 3` (each value must match potatogpt's to
1e-6 plus 1e-6 of its size; rounding differs by less than 1e-12, so anything the grader reports
is a real difference.  Build new lists for your results: never write into a tensor's rows or an
argument's lists, which the grader reports as a verdict of its own).
"""

from __future__ import annotations

import math

from potatogpt.tensor import Hidden, Seq, Tensor


def gelu(x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    """GPT-2's GELU (the tanh approximation), applied to every element."""
    c = math.sqrt(2.0 / math.pi)  # (you will need it)
    raise NotImplementedError("exercise 3: write gelu")
