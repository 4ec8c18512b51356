"""potatogpt: GPT-2 inference in pure Python, written to be read.

    import potatogpt
    model = potatogpt.load("weights/124M")
    ids = model.tokenizer.encode("Hello world")
    for token_id in model.generate(ids, max_new_tokens=20):
        print(model.tokenizer.decode([token_id]), end="", flush=True)
"""

import sys

try:
    from .config import GPT2Config
    from .api import GPT2, ContextError, load
    from .tensor import Embedding, ShapeError, Tensor, Weight
    from .tokenizer import Tokenizer, TokenizerError
    from .weights import WeightsError
except (KeyboardInterrupt, RuntimeError) as e:
    # Ctrl-C in the tenth of a second `python -m potatogpt` spends importing: stop as quietly
    # as Ctrl-C does later.  A program that imports potatogpt gets its KeyboardInterrupt.
    # (Python 3.11 may deliver it wrapped in a RuntimeError, when it lands in a __set_name__.)
    interrupted = isinstance(e, KeyboardInterrupt) or isinstance(e.__cause__, KeyboardInterrupt)
    if interrupted and sys.argv[:1] == ["-m"]:  # sys.argv[0] while `python -m` imports the package
        print("\npotatogpt: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    raise

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
