"""potatogpt: GPT-2 inference in pure Python, written to be read."""

from .config import GPT2Config
from .tensor import ShapeError, Tensor

__all__ = ["GPT2Config", "ShapeError", "Tensor"]
__version__ = "0.1.0"
