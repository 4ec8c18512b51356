"""Exercise 2: embeddings, token plus position.                             (about 15 minutes)

What it does
    The network's input: each token id picks its row of the token table `wte`, and each
    position picks its row of the position table `wpe`; the two vectors are added.  The result
    is the residual stream, one row per token.  When a KV cache already holds `start`
    positions, the new tokens sit at positions start, start + 1, ...

The formula
    x[i] = wte[ids[i]] + wpe[start + i]

The shapes
    params.wte: Embedding[Vocab, Embed], params.wpe: Embedding[Ctx, Embed]
    table.lookup(indices, n) -> Tensor[N, Embed], n branded as the rows you want (here Seq).
    Result: Tensor[Seq, Embed], one row per id.

In potatogpt
    potatogpt/model.py, `embed`; Embedding.lookup in potatogpt/tensor.py.

Stage 1, shapes: `python -m mypy exercises/ex02_embedding.py`.  wpe is a table of Ctx rows, so it is
tempting to brand the positions' rows as Ctx too; but they are rows of *this* sequence, and
the sum must be a Tensor[Seq, Embed], so mypy expects Seq there:

        return params.wte.lookup(ids, seq) + params.wpe.lookup(range(start, start + seq), Ctx(seq))

    exercises/ex02_embedding.py:<line>: error: Argument 2 to "lookup" of "Embedding" has incompatible type "Ctx"; expected "Seq"  [arg-type]

Stage 2, values: `python -m exercises check 2` (each value must match potatogpt's to
1e-6 plus 1e-6 of its size; rounding differs by less than 1e-12, so anything the grader reports
is a real difference.  Build new lists for your results: never write into a tensor's rows or an
argument's lists, which the grader reports as a verdict of its own).
"""

from __future__ import annotations

from collections.abc import Sequence

from potatogpt.model import Params
from potatogpt.tensor import Embed, Seq, Tensor


def embed(ids: Sequence[int], params: Params, start: int) -> Tensor[Seq, Embed]:
    """Token vectors plus position vectors; the first id is at position `start`."""
    raise NotImplementedError("exercise 2: write embed")
