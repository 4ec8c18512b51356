"""Static checks only: mypy reads this file (see tests/test_shape_errors.py); nothing runs it.

Each assert_type states the type mypy must infer for a correct expression, so a change that
loses a brand (say, `@` returning Tensor[int, int]) shows up as a mypy error here.
"""

from __future__ import annotations

from typing_extensions import assert_type  # dev-only: mypy depends on typing_extensions

from potatogpt.tensor import (
    ONE,
    Ctx,
    Embed,
    HeadDim,
    Hidden,
    One,
    Qkv,
    Seq,
    Tensor,
    Vocab,
    Weight,
    concat_columns,
    embedding_from_rows,
    empty_weight,
    take_rows,
    weight_from_rows,
    zeros,
)


def checks() -> None:
    seq, ctx, embed, hidden = Seq(3), Ctx(0), Embed(8), Hidden(32)
    x = zeros(seq, embed)
    assert_type(x, Tensor[Seq, Embed])
    assert_type(x.shape, tuple[Seq, Embed])
    assert_type(x @ zeros(embed, hidden), Tensor[Seq, Hidden])
    assert_type(x.T, Tensor[Embed, Seq])
    assert_type(x + x, Tensor[Seq, Embed])
    assert_type(x + zeros(ONE, embed), Tensor[Seq, Embed])
    assert_type(x + 1.0, Tensor[Seq, Embed])
    assert_type(x * 0.5, Tensor[Seq, Embed])
    assert_type(x.map(abs), Tensor[Seq, Embed])
    assert_type(x.softmax_rows(causal_offset=0), Tensor[Seq, Embed])
    assert_type(x.layer_norm(zeros(ONE, embed), zeros(ONE, embed), 1e-5), Tensor[Seq, Embed])

    qkv = zeros(seq, Qkv(24))
    q, k, v = qkv.split_columns(3, embed)
    assert_type(q, Tensor[Seq, Embed])
    heads = q.split_columns(2, HeadDim(4))
    assert_type(heads, list[Tensor[Seq, HeadDim]])
    assert_type(concat_columns(heads, embed), Tensor[Seq, Embed])

    keys_t = empty_weight(HeadDim(4), ctx)
    values = empty_weight(ctx, HeadDim(4))
    assert_type(heads[0] @ keys_t, Tensor[Seq, Ctx])
    assert_type(heads[0] @ keys_t @ values, Tensor[Seq, HeadDim])

    c_fc = weight_from_rows([[0.0] * 32] * 8, embed, hidden)
    assert_type(c_fc, Weight[Embed, Hidden])
    assert_type(x @ c_fc, Tensor[Seq, Hidden])
    assert_type(c_fc.shape, tuple[Embed, Hidden])

    wte = embedding_from_rows([[0.0] * 8] * 10, Vocab(10), embed)
    assert_type(wte.lookup([1, 2, 3], seq), Tensor[Seq, Embed])
    assert_type(take_rows(x, [2], ONE), Tensor[One, Embed])
    assert_type(x @ wte.T, Tensor[Seq, Vocab])
