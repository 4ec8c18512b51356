from collections.abc import Sequence

from potatogpt.model import Params
from potatogpt.tensor import Ctx, Embed, Seq, Tensor


def embed(ids: Sequence[int], params: Params, start: int) -> Tensor[Seq, Embed]:
    seq = Seq(len(ids))
    return params.wte.lookup(ids, seq) + params.wpe.lookup(range(start, start + seq), Ctx(seq))  # mypy: arg-type
