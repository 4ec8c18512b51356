"""potatogpt: GPT-2 inference in pure Python, written to be read.

    import potatogpt
    model = potatogpt.load("weights/124M")
    ids = model.tokenizer.encode("Hello world")
    for token_id in model.generate(ids, max_new_tokens=20):
        print(model.tokenizer.decode([token_id]), end="", flush=True)
"""

from .config import GPT2Config
from .api import GPT2, ContextError, load
from .tensor import Embedding, ShapeError, Tensor, Weight
from .tokenizer import Tokenizer, TokenizerError
from .weights import WeightsError

__all__ = [
    "GPT2",
    "ContextError",
    "Embedding",
    "GPT2Config",
    "ShapeError",
    "Tensor",
    "Tokenizer",
    "TokenizerError",
    "Weight",
    "WeightsError",
    "load",
]
__version__ = "0.1.0"
