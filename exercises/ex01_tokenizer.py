"""Exercise 1: byte-level symbols and the BPE merge loop.                   (about 30 minutes)

What it does
    GPT-2 reads bytes, not characters.  Every one of the 256 byte values gets a printable
    stand-in character (so the vocabulary files can be JSON text), and a word's bytes become a
    string of those symbols: " world" -> "Ġworld" (the space byte 0x20 is shown as "Ġ").  BPE
    then glues adjacent symbols together, replaying the merges GPT-2 learned, earliest first,
    until no adjacent pair is a learned merge; every piece left is a token.

The rules
    bytes_to_unicode: the 188 printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
        themselves; the other 68 take chr(256), chr(257), ... in increasing byte order.
    merge(parts, pair): one pass, left to right; each time parts[i], parts[i+1] == pair, they
        become one part.  ["a", "a", "a"] with ("a", "a") -> ["aa", "a"].
    bpe(symbols, ranks): start from one part per symbol; repeatedly find the adjacent pair with
        the LOWEST rank (learned earliest), merge it everywhere, and stop when no adjacent pair
        is in `ranks`.

The types
    bytes_to_unicode() -> dict[int, str];  merge(list[str], tuple[str, str]) -> list[str];
    bpe(str, Mapping[tuple[str, str], int]) -> list[str].

In potatogpt
    potatogpt/tokenizer.py: `bytes_to_unicode`, `merge`, `bpe` (read them after writing yours).

Stage 1, shapes: `python -m mypy exercises/ex01_tokenizer.py`.  A classic slip is to hand back the
merged word instead of its pieces:

        return "".join(parts)

    exercises/ex01_tokenizer.py:<line>: error: Incompatible return value type (got "str", expected "list[str]")  [return-value]

Stage 2, values: `python -m exercises check 1` (every word of 2,264 test texts must split as
GPT-2's tokenizer splits it, and encode to the ids tiktoken gives).  Build new lists for your
results: never write into `parts` or `ranks`, which the grader reports as a verdict of its own.
"""

from __future__ import annotations

from collections.abc import Mapping


def bytes_to_unicode() -> dict[int, str]:
    """The printable symbol that stands for each byte value 0..255."""
    raise NotImplementedError("exercise 1: write bytes_to_unicode")


def merge(parts: list[str], pair: tuple[str, str]) -> list[str]:
    """Join every occurrence of `pair` in `parts` into one part, left to right."""
    raise NotImplementedError("exercise 1: write merge")


def bpe(symbols: str, ranks: Mapping[tuple[str, str], int]) -> list[str]:
    """Merge one word's symbols, lowest-ranked pair first, until no known pair is left."""
    raise NotImplementedError("exercise 1: write bpe")
