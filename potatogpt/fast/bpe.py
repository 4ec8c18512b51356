"""BPE for freak words: exactly tokenizer.bpe's merges, in O(n log n) instead of O(n^2).

tokenizer.py's `bpe` is the readable reference and encodes every ordinary word; the tokenizer
hands words longer than LONG_WORD byte symbols to `fast_bpe` here.  tests/test_tokenizer.py checks
the two agree, including on merge orders no real vocabulary has.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping


def fast_bpe(symbols: str, ranks: Mapping[tuple[str, str], int]) -> list[str]:
    """Exactly bpe(symbols, ranks), in O(n log n) time instead of O(n^2) for a word of n symbols.

    bpe() rescans the whole word for every round of merges.  That is nothing for real words, but
    a long "word" whose pairs rarely repeat needs about as many rounds as it has symbols: 2 s for
    20,000 random Chinese characters written without a space, and hours for a megabyte of them.
    Here the parts form a linked list, and a heap holds every adjacent pair that has a rank,
    keyed by (rank, position of its left part).  A pair taken from the heap may be stale, since
    its parts were merged meanwhile; it is recognised and skipped by looking its current parts
    up again.  To make the very merges bpe() makes, each round takes *all* occurrences of the
    lowest rank, left to right, before any pair that those merges created is considered.
    """
    parts = list(symbols)
    if len(parts) < 2:
        return parts
    following = list(range(1, len(parts))) + [-1]  # the next live part's position, -1 at the end
    preceding = list(range(-1, len(parts) - 1))
    alive = [True] * len(parts)

    def pair_at(left: int) -> int | None:
        """The rank of the pair that starts at live part `left`, or None."""
        right = following[left]
        return None if right < 0 else ranks.get((parts[left], parts[right]))

    heap = [(rank, i) for i in range(len(parts) - 1) if (rank := pair_at(i)) is not None]
    heapq.heapify(heap)
    while heap:
        best = heap[0][0]
        merged = []
        while heap and heap[0][0] == best:  # one round: every occurrence, left to right
            _, left = heapq.heappop(heap)
            if not alive[left] or pair_at(left) != best:
                continue  # stale: one of its parts has been merged into something else
            right = following[left]
            parts[left] += parts[right]
            alive[right] = False
            following[left] = following[right]
            if following[right] >= 0:
                preceding[following[right]] = left
            merged.append(left)
        for left in merged:  # the pairs this round's merges created, for the rounds to come
            for start in (preceding[left], left):
                if start >= 0 and (rank := pair_at(start)) is not None:
                    heapq.heappush(heap, (rank, start))
    return [part for part, live in zip(parts, alive) if live]
