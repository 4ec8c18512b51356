"""potatogpt: GPT-2 inference in pure Python, written to be read.

    import potatogpt
    model = potatogpt.load("weights/124M")
    ids = model.tokenizer.encode("Hello world")
    for token_id in model.generate(ids, max_new_tokens=20):
        print(model.tokenizer.decode([token_id]), end="", flush=True)
"""

import sys


def quit_if_interrupted(error: BaseException) -> None:
    """Ctrl-C in the tenth of a second `python -m potatogpt` spends importing: stop as quietly as
    Ctrl-C does later.  (Python 3.11 may deliver it wrapped in a RuntimeError, when it lands in a
    __set_name__.)  Anything else is left for the caller to raise."""
    if isinstance(error, KeyboardInterrupt) or isinstance(error.__cause__, KeyboardInterrupt):
        print("\npotatogpt: interrupted", file=sys.stderr)
        raise SystemExit(130) from None


try:
    from .config import GPT2Config
    from .api import GPT2, ContextError, load
    from .tensor import Embedding, ShapeError, Tensor, Weight
    from .tokenizer import Tokenizer, TokenizerError
    from .weights.catalogue import WeightsError
except (KeyboardInterrupt, RuntimeError) as e:
    # Only for `python -m potatogpt` (sys.argv[0] is "-m" while it imports the package): a
    # program that imports potatogpt gets its KeyboardInterrupt.
    if sys.argv[:1] == ["-m"]:
        quit_if_interrupted(e)
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
