"""Exercise 7: multi-head attention, split and concatenate.                 (about 30 minutes)

What it does
    One product, c_attn, makes every token's query, key and value side by side (3 x n_embd
    columns).  Cut it into q, k and v, then cut each of those into n_head heads of head_dim
    columns.  Each head runs attention on its own slice; the heads' outputs are put back side
    by side and mixed by c_proj.  Before attending, each head's new keys and values join its
    KV cache, so later tokens can look back at them without recomputing them.

The steps
    qkv      = linear(x, attn.c_attn)                         Tensor[Seq, Qkv]
    q, k, v  = qkv.split_columns(3, x.n_cols)                 three Tensor[Seq, Embed]
    per head h (q.split_columns(n_head, head_dim), same for k and v; head_dim = n_embd // n_head):
        for each new token's key row and value row:
            cache.keys[h].append_column(key)                  K^T gains a column
            cache.values[h].append_row(value)                 V gains a row
        out_h = attention(q_h, cache.keys[h], cache.values[h])
    out      = linear(concat_columns(heads, x.n_cols), attn.c_proj)

The shapes
    x: Tensor[Seq, Embed]; head_dim = HeadDim(x.n_cols // n_head); each head's q_h, k_h, v_h:
    Tensor[Seq, HeadDim]; cache.keys[h]: Weight[HeadDim, Ctx]; cache.values[h]:
    Weight[Ctx, HeadDim].  concat_columns(parts, width) takes the width the result must have.

Earlier pieces
    `model.linear`, `model.attention`: potatogpt's while you are graded, yours in the finale.

In potatogpt
    potatogpt/model.py, `mha` (and `LayerCache` for the cache).

Stage 1, shapes: `python -m mypy exercises/ex07_multi_head.py`.  Compute the head width as a plain int,
`head_dim = x.n_cols // n_head`, and the heads lose their brand: split_columns makes them
Tensor[Seq, int], which attention does not take:

        heads.append(model.attention(q_h, cache.keys[h], cache.values[h]))

    exercises/ex07_multi_head.py:<line>: error: Argument 1 to "attention" has incompatible type "Tensor[Seq, int]"; expected "Tensor[Seq, HeadDim]"  [arg-type]

A confusing message: give concat_columns the wrong width (a head's, head_dim, instead of the
whole stream's, x.n_cols) and mypy does not say "width"; it cannot work out what `linear` was given:

        return model.linear(concat_columns(heads, head_dim), attn.c_proj)

    exercises/ex07_multi_head.py:<line>: error: Cannot infer value of type parameter "I" of "linear"  [misc]

    It means: the tensor passed to linear has columns branded HeadDim, but attn.c_proj takes Embed
    columns, so no single brand I fits both.  The width you give concat_columns is the result's.

Stage 2, values: `python -m exercises check 7` (what each head's cache holds is checked before
the output: the number of keys and values, then the keys and values themselves; each value must match potatogpt's to
1e-6 plus 1e-6 of its size; rounding differs by less than 1e-12, so anything the grader reports
is a real difference.  Build new lists for your results: never write into a tensor's rows or an
argument's lists, which the grader reports as a verdict of its own).
"""

from __future__ import annotations

from potatogpt import model
from potatogpt.model import Attention, LayerCache
from potatogpt.tensor import Embed, HeadDim, Seq, Tensor, concat_columns


def mha(x: Tensor[Seq, Embed], attn: Attention, cache: LayerCache, n_head: int) -> Tensor[Seq, Embed]:
    """Causal self-attention with n_head heads; the new keys and values join `cache` first."""
    raise NotImplementedError("exercise 7: write mha")
