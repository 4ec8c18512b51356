from typing import TypeVar

from potatogpt import model
from potatogpt.config import GPT2Config
from potatogpt.model import Params
from potatogpt.tensor import Embed, Tensor, Vocab

R = TypeVar("R", bound=int)


def lm_head(x: Tensor[R, Embed], params: Params, config: GPT2Config) -> Tensor[R, Vocab]:
    return model.layer_norm(x, params.ln_f, config.layer_norm_epsilon) @ params.wpe.T  # mypy: operator
