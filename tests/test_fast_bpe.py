"""fast_bpe (fast/bpe.py), the tokenizer's merges in O(n log n), against the readable
`tokenizer.bpe`: the same merges on every fixture word, on long random words, for any merge order."""

from __future__ import annotations

import random
import string

import pytest

from helpers import load_tokenizer_cases
from potatogpt.fast.bpe import fast_bpe
from potatogpt.tokenizer import BYTE_TO_UNICODE, Tokenizer, bpe, pre_tokenize


@pytest.fixture(scope="module")
def gpt2() -> Tokenizer:
    return Tokenizer.gpt2()


def as_symbols(text: str) -> str:
    return "".join(BYTE_TO_UNICODE[b] for b in text.encode("utf-8", "replace"))


def test_fast_bpe_matches_bpe_on_every_fixture_word(gpt2: Tokenizer) -> None:
    encode_cases, _, _ = load_tokenizer_cases()
    words = {as_symbols(word) for text, _ in encode_cases for word in pre_tokenize(text)}
    ranks = gpt2._ranks
    assert len(words) > 1000
    for word in words:
        assert fast_bpe(word, ranks) == bpe(word, ranks), word


@pytest.mark.parametrize("alphabet", [string.ascii_lowercase, string.digits, "éèêëàâäôöûüç",
                                      "αβγδεζηθικλμνξοπρστυφχψω", "".join(map(chr, range(0x4E00, 0x4F00))),
                                      "!@#$%^&*()_+-=[]{}", "ab"])
def test_fast_bpe_matches_bpe_on_long_random_words(gpt2: Tokenizer, alphabet: str) -> None:
    rng = random.Random(alphabet)
    for length in (1, 2, 3, 17, 300, 3000):
        word = as_symbols("".join(rng.choice(alphabet) for _ in range(length)))
        assert fast_bpe(word, gpt2._ranks) == bpe(word, gpt2._ranks)


def test_fast_bpe_matches_bpe_for_any_merge_order() -> None:
    """Even where a merge creates a pair ranked before itself (no real BPE does), the same merges."""
    rng = random.Random(7)
    for _ in range(300):
        tokens = list("abc")
        merges: list[tuple[str, str]] = []
        for _ in range(rng.randrange(1, 12)):
            pair = (rng.choice(tokens), rng.choice(tokens))
            if pair not in merges:
                merges.append(pair)
                tokens.append(pair[0] + pair[1])
        rng.shuffle(merges)  # ranks out of the order the tokens were made in
        ranks = {pair: rank for rank, pair in enumerate(merges)}
        word = "".join(rng.choice("abc") for _ in range(rng.randrange(0, 40)))
        assert fast_bpe(word, ranks) == bpe(word, ranks), (word, merges)
