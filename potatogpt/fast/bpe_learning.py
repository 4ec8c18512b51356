"""Learning BPE merges fast enough for megabytes: learn_bpe.py's loop without recounting every pair.

learn_bpe.py's `learn_merges_plainly` is the readable reference; tests/test_learn_bpe.py checks
that this makes exactly its merges.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping

from ..tokenizer import BYTE_TO_UNICODE, EOT_TEXT, merge

Word = tuple[str, ...]  # one pre-token as its current symbols (as in learn_bpe.py)
Pair = tuple[str, str]


def learn_merges(words: Mapping[Word, int], vocab_size: int, tie_break: Callable[[Pair], tuple[bytes, bytes]]) -> list[Pair]:
    """Exactly learn_bpe.learn_merges_plainly(words, vocab_size), with its tie_break, without
    recounting every pair for every merge.

    A merge changes only the words that hold the merged pair, so we remember which words hold
    each pair (`where`) and, for those words alone, take their old pairs out of the counts and
    put their new ones in.  The most frequent pair comes from a heap keyed like best_pair
    (count, then tie_break); a heap entry whose count is out of date is skipped when it surfaces,
    because a fresh entry was pushed when its count changed.
    """
    parts = [list(word) for word in words]
    counts = list(words.values())
    stats: dict[Pair, int] = {}
    where: dict[Pair, set[int]] = {}
    for i, word in enumerate(parts):
        for pair in zip(word, word[1:]):
            stats[pair] = stats.get(pair, 0) + counts[i]
            where.setdefault(pair, set()).add(i)
    heap = [(-count, tie_break(pair), pair) for pair, count in stats.items()]
    heapq.heapify(heap)

    tokens = set(BYTE_TO_UNICODE.values()) | {EOT_TEXT}
    merges: list[Pair] = []
    while len(tokens) < vocab_size and heap:
        negative_count, _, pair = heapq.heappop(heap)
        if stats.get(pair) != -negative_count:
            continue  # out of date: this pair's count changed (or it was merged) after the push
        merges.append(pair)
        tokens.add(pair[0] + pair[1])
        changed: set[Pair] = set()
        for i in where.pop(pair):
            old, new = parts[i], merge(parts[i], pair)
            old_pairs, new_pairs = list(zip(old, old[1:])), list(zip(new, new[1:]))
            for gone in old_pairs:
                stats[gone] -= counts[i]
            for made in new_pairs:
                stats[made] = stats.get(made, 0) + counts[i]
            for gone in set(old_pairs) - set(new_pairs):
                if gone != pair:
                    where[gone].discard(i)
            for made in new_pairs:
                where.setdefault(made, set()).add(i)
            changed.update(old_pairs, new_pairs)
            parts[i] = new
        for changed_pair in changed:
            count = stats[changed_pair]
            if count == 0:  # no occurrence left: the merged pair itself, and pairs it swallowed
                del stats[changed_pair]
                where.pop(changed_pair, None)
            else:
                heapq.heappush(heap, (-count, tie_break(changed_pair), changed_pair))
    return merges
