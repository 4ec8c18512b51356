from __future__ import annotations

from potatogpt.tensor import Ctx, Embed, HeadDim, Qkv, Seq, Tensor, Weight, concat_columns


def qkv_gradient(x: Tensor[Seq, Embed], dq: list[Tensor[Seq, HeadDim]], dk_ts: list[Weight[HeadDim, Ctx]],
                 dv: list[Tensor[Seq, HeadDim]]) -> Tensor[Seq, Qkv]:
    dk = []
    for dk_t in dk_ts:
        dk.append(dk_t)
    d_qkv = concat_columns(dq + dk + dv, Qkv(3 * x.n_cols))  # mypy: arg-type
    return d_qkv
