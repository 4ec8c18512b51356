"""How long GPT-2's tokenizer takes to encode 1 MiB of English prose, cold and warm.

    python3 bench/bench_tokenizer.py                 # prose from Python's own documentation
    python3 bench/bench_tokenizer.py --file book.txt # or any UTF-8 text file (first 1 MiB)

Cold: a fresh Tokenizer, so every distinct word goes through BPE once.  Warm: the same text
again, so every word comes from the cache and what is left is pre-tokenization and lookups.
The default text needs no download: the language reference Python ships for `help()`
(pydoc_data.topics), then the docstrings of the standard library's modules, in file order.
It differs a little between Python versions, so compare numbers made with the same Python.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from potatogpt.tokenizer import Tokenizer, pre_tokenize  # noqa: E402  (after the path fix)

MIB = 1 << 20


def stdlib_docstrings() -> list[str]:
    """Every module, class and function docstring of the standard library, read without importing it."""
    docs = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        if "test" in path.parts or "site-packages" in path.parts:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    docs.append(doc)
    return docs


def python_prose(size: int) -> str:
    from pydoc_data.topics import topics  # the text behind help('if'), help('class'), ...

    pieces = [topics[name] for name in sorted(topics)]
    text = "\n\n".join(pieces)
    if len(text.encode("utf-8")) < size:
        text += "\n\n" + "\n\n".join(stdlib_docstrings())
    return first_bytes(text, size)


def first_bytes(text: str, size: int) -> str:
    """The text cut to at most `size` bytes of UTF-8, at a character boundary."""
    return text.encode("utf-8")[:size].decode("utf-8", errors="ignore")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--file", type=Path, help="a UTF-8 text file to encode instead (its first 1 MiB)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the median is shown")
    args = parser.parse_args()

    if args.file:
        text, source = first_bytes(args.file.read_text(encoding="utf-8"), MIB), str(args.file)
    else:
        text, source = python_prose(MIB), "Python's documentation and docstrings"
    size = len(text.encode("utf-8"))

    loads, colds, warms, splits = [], [], [], []
    ids: list[int] = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        tokenizer = Tokenizer.gpt2()
        loads.append(time.perf_counter() - started)

        started = time.perf_counter()
        ids = tokenizer.encode(text)
        colds.append(time.perf_counter() - started)

        started = time.perf_counter()
        again = tokenizer.encode(text)
        warms.append(time.perf_counter() - started)
        assert again == ids

        started = time.perf_counter()
        words = pre_tokenize(text)
        splits.append(time.perf_counter() - started)

    distinct = len(set(words))
    print(f"Python {sys.version.split()[0]}; {size:,} bytes of {source}: {len(words):,} words "
          f"({distinct:,} distinct), {len(ids):,} tokens; median of {args.repeat} runs")
    print(f"  load vocabulary    {statistics.median(loads):6.3f} s")
    print(f"  encode, cold cache {statistics.median(colds):6.3f} s")
    print(f"  encode, warm cache {statistics.median(warms):6.3f} s")
    print(f"    of which pre-tokenization {statistics.median(splits):6.3f} s")


if __name__ == "__main__":
    main()
