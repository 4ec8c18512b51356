"""GPT-2 hyper-parameters: one small object shared by the weights loader and the model."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GPT2Config:
    """The numbers that fix a GPT-2 model's shapes (names as in Hugging Face's config.json)."""

    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    n_ctx: int = 1024
    vocab_size: int = 50257
    layer_norm_epsilon: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


# The four sizes OpenAI released, by the names the GPT-2 paper's repository uses.
MODEL_SIZES: dict[str, GPT2Config] = {
    "124M": GPT2Config(n_layer=12, n_head=12, n_embd=768),
    "355M": GPT2Config(n_layer=24, n_head=16, n_embd=1024),
    "774M": GPT2Config(n_layer=36, n_head=20, n_embd=1280),
    "1558M": GPT2Config(n_layer=48, n_head=25, n_embd=1600),
}

