"""How long does learning a BPE vocabulary take?  (potatogpt/learn_bpe.py)

    python bench/bench_learn_bpe.py                      # ~1 MB of standard-library source, 1024 tokens
    python bench/bench_learn_bpe.py --megabytes 4 --vocab-size 4096
    python bench/bench_learn_bpe.py --corpus default     # the default training text (pydoc_data.topics)

The text is the standard library's own top-level .py files in name order, up to --megabytes:
code and prose with many distinct words, a harder case than English of the same size.  Reports
the seconds for counting words, learning the merges (the incremental learner), and encoding the
text with the result; --plain also times learn_merges_plainly (slow: it recounts every pair).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from potatogpt.dataset import read_corpus  # noqa: E402
from potatogpt.fast.bpe_learning import learn_merges  # noqa: E402
from potatogpt.learn_bpe import BPEVocabulary, learn_merges_plainly, tie_break, word_counts  # noqa: E402


def stdlib_text(megabytes: float) -> str:
    folder = Path(os.__file__).parent
    budget = int(megabytes * 1_000_000)
    pieces: list[str] = []
    for path in sorted(folder.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        pieces.append(text[:budget])
        budget -= len(pieces[-1].encode("utf-8"))
        if budget <= 0:
            break
    return "".join(pieces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=1.0)
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--corpus", choices=["stdlib", "default"], default="stdlib")
    parser.add_argument("--plain", action="store_true", help="also time the plain learner")
    args = parser.parse_args()

    text = stdlib_text(args.megabytes) if args.corpus == "stdlib" else "".join(read_corpus([]).texts)
    print(f"Python {sys.version.split()[0]}: {len(text.encode('utf-8')):,} bytes of {args.corpus} text")
    start = time.perf_counter()
    words = word_counts([text])
    counted = time.perf_counter()
    merges = learn_merges(words, args.vocab_size, tie_break)
    learnt = time.perf_counter()
    tokenizer = BPEVocabulary.from_merges(merges).tokenizer()
    ids = tokenizer.encode(text)
    encoded = time.perf_counter()
    print(f"  word_counts    {counted - start:6.2f} s   {len(words):,} distinct words")
    print(f"  learn_merges   {learnt - counted:6.2f} s   {len(merges):,} merges -> {tokenizer.vocab_size:,} tokens")
    print(f"  encode         {encoded - learnt:6.2f} s   {len(ids):,} tokens "
          f"({len(text.encode('utf-8')) / len(ids):.2f} bytes per token)")
    if args.plain:
        start = time.perf_counter()
        plain = learn_merges_plainly(words, args.vocab_size)
        print(f"  learn_merges_plainly {time.perf_counter() - start:6.2f} s   same merges: {plain == merges}")


if __name__ == "__main__":
    main()
