"""The GPT-2 tokenizer: each step alone, then parity with independent tokenizers.

Expected ids come from GPT-2's published examples or from tests/fixtures/tokenizer_cases.json,
which tiktoken and Hugging Face `tokenizers` produced (see make_tokenizer_cases.py): never from
potatogpt itself.
"""

from __future__ import annotations

import random
import subprocess
import sys
import unicodedata
from collections.abc import Callable, Mapping

import pytest

from helpers import ROOT, in_a_subprocess, load_tokenizer_cases
import potatogpt.tokenizer as tokenizer_module
from potatogpt.data import unicode_classes as _unicode_classes
from potatogpt.tokenizer import (
    EOT_TEXT, Tokenizer, bpe, bytes_to_unicode, char_class, merge, pre_tokenize, symbols_to_bytes,
)

CASES, SPECIAL_CASES, SPLITS = load_tokenizer_cases()


def has_surrogates(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.gpt2()


# --- Step 1: the byte table -----------------------------------------------------------------------
def test_bytes_to_unicode() -> None:
    table = bytes_to_unicode()
    assert sorted(table) == list(range(256))
    assert len(set(table.values())) == 256  # a bijection, so decoding can invert it
    assert table[ord("a")] == "a" and table[ord("!")] == "!" and table[0xE9] == "é"  # printable: itself
    assert table[0x00] == "\u0100"  # the first non-printable byte takes U+0100...
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ"  # ...the familiar 'Ġ' and 'Ċ'
    assert table[0xAD] == "Ń"  # the soft hyphen is the last one shifted (U+0143)
    every_byte = bytes(range(256))
    assert symbols_to_bytes("".join(table[b] for b in every_byte)) == every_byte
    assert symbols_to_bytes("Ġworld") == b" world"


# --- Step 2: pre-tokenization ---------------------------------------------------------------------
def test_char_class() -> None:
    assert char_class([(0x41, 0x5A), (0x5F, 0x5F)]) == r"[\U00000041-\U0000005a\U0000005f]"
    assert char_class([(0x20, 0x20)], negate=True) == r"[^\U00000020]"


@pytest.mark.parametrize(("text", "words"), [
    ("Hello world", ["Hello", " world"]),
    ("Hello  world", ["Hello", " ", " world"]),  # a space run gives its last space to the word
    ("a \t b", ["a", " \t", " b"]),
    ("end  ", ["end", "  "]),  # trailing white space stays in one piece
    ("I'm DON'T", ["I", "'m", " DON", "'", "T"]),  # contractions are lower case only
    ("x²½Ⅻ y", ["x", "²½Ⅻ", " y"]),  # No and Nl numerals are numbers, not letters
    ("e\u0301", ["e", "\u0301"]),  # a combining accent is neither letter nor number
    ("a\x1cb", ["a", "\x1c", "b"]),  # U+001C is not white space to GPT-2 (it is to str.isspace)
    ("a\x85 b\u3000c", ["a", "\x85", " b", "\u3000", "c"]),  # U+0085 and U+3000 are
    ("", []),
])
def test_pre_tokenize_traps(text: str, words: list[str]) -> None:
    assert pre_tokenize(text) == words


def test_pre_tokenize_matches_regex_package() -> None:
    assert len(SPLITS) > 200
    for text, words in SPLITS:
        assert pre_tokenize(text) == words, text


def test_generated_unicode_classes_are_reproducible() -> None:
    """Rerunning the generator gives the committed file (only the Python that made it can check)."""
    if "%d.%d" % sys.version_info[:2] != _unicode_classes.PYTHON_VERSION:
        pytest.skip(f"_unicode_classes.py was made with Python {_unicode_classes.PYTHON_VERSION}")
    assert unicodedata.unidata_version == _unicode_classes.UNICODE_VERSION
    fresh = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_unicode_classes.py"), "--stdout"],
                           capture_output=True, text=True, check=True).stdout
    committed = (ROOT / "potatogpt" / "data" / "unicode_classes.py").read_text(encoding="utf-8")
    assert fresh == committed


# --- Step 3: BPE ----------------------------------------------------------------------------------
def test_merge() -> None:
    assert merge(["a", "a", "a"], ("a", "a")) == ["aa", "a"]  # left to right, no overlaps
    assert merge(["a", "b", "a", "b"], ("a", "b")) == ["ab", "ab"]
    assert merge(["a", "b"], ("b", "a")) == ["a", "b"]
    assert merge([], ("a", "b")) == []


def test_bpe_merges_lowest_rank_first() -> None:
    ranks = {("b", "c"): 0, ("a", "b"): 1, ("a", "bc"): 2}
    assert bpe("abc", ranks) == ["abc"]  # bc first (rank 0), then a+bc
    assert bpe("abc", {("b", "c"): 0, ("a", "b"): 1}) == ["a", "bc"]  # ab never gets a chance
    assert bpe("abc", {("a", "b"): 0, ("b", "c"): 1}) == ["ab", "c"]
    assert bpe("xyz", ranks) == ["x", "y", "z"]
    assert bpe("", ranks) == []


# --- Step 4: the whole tokenizer against known ids ------------------------------------------------
def test_known_ids(tok: Tokenizer) -> None:
    assert tok.encode("Hello world") == [15496, 995]
    alan = [36235, 39141, 18765, 1143, 326, 9061, 561, 530, 1110, 1716]
    assert tok.encode("Alan Turing theorized that computers would one day become") == alan
    assert tok.decode(alan) == "Alan Turing theorized that computers would one day become"
    assert tok.vocab_size == 50257
    assert tok.eot_id == 50256


def test_parity_with_tiktoken(tok: Tokenizer) -> None:
    assert len(CASES) >= 2000
    for text, ids in CASES:
        assert tok.encode(text) == ids, text


def test_decode_of_parity_cases(tok: Tokenizer) -> None:
    for text, ids in CASES:
        if not has_surrogates(text):  # UTF-8 has no surrogates, so those cannot come back
            assert tok.decode(ids) == text, text


def test_surrogates_are_replaced_like_tiktoken(tok: Tokenizer) -> None:
    assert tok.decode(tok.encode("\ud83d\ude00")) == "😀"  # a valid pair is the character
    assert tok.decode(tok.encode("a\ud800b")) == "a\ufffdb"  # a lone one is U+FFFD


def test_round_trip_random_unicode(tok: Tokenizer) -> None:
    rng = random.Random(1234)
    pools = [(0x20, 0x7E), (0x09, 0x0D), (0x00, 0xFF), (0x0100, 0x2FFF), (0x3000, 0xD7FF), (0xE000, 0x10FFFF)]
    for _ in range(3000):
        chars = []
        for _ in range(rng.randint(0, 16)):
            first, last = rng.choice(pools)
            chars.append(chr(rng.randint(first, last)))
        text = "".join(chars)
        assert tok.decode(tok.encode(text)) == text, ascii(text)


def test_encode_runs_the_readable_bpe_except_on_freak_words(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a student reads (`bpe`) is what encodes ordinary words, so a `bpe` swapped in (the
    exercises' finale does that) is the one used; only words over LONG_WORD symbols go to
    fast_bpe, which makes the same merges without bpe's quadratic rescans."""
    long_word = "x" * (tokenizer_module.LONG_WORD + 1)
    expected = Tokenizer.gpt2().encode(" world " + long_word)
    calls: list[tuple[str, str]] = []

    def spy(name: str) -> Callable[[str, Mapping[tuple[str, str], int]], list[str]]:
        original = getattr(tokenizer_module, name)

        def merged(symbols: str, ranks: Mapping[tuple[str, str], int]) -> list[str]:
            calls.append((name, symbols))
            pieces: list[str] = original(symbols, ranks)
            return pieces

        return merged

    monkeypatch.setattr(tokenizer_module, "bpe", spy("bpe"))
    monkeypatch.setattr(tokenizer_module, "fast_bpe", spy("fast_bpe"))
    assert Tokenizer.gpt2().encode(" world " + long_word) == expected  # (a fresh one: nothing cached)
    assert calls == [("bpe", "Ġworld"), ("fast_bpe", "Ġ" + long_word)]


def test_encode_reuses_its_cache_and_stays_bounded(tok: Tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    text, ids = CASES[-1]
    assert tok.encode(text) == tok.encode(text) == ids  # the second call is served by the cache
    small = Tokenizer.gpt2()
    monkeypatch.setattr(tokenizer_module, "CACHE_SIZE", 3)
    for text, ids in CASES[:300]:
        assert small.encode(text) == ids, text
    assert len(small._cache) <= 3


# --- The special token ----------------------------------------------------------------------------
def test_endoftext_is_plain_text_by_default(tok: Tokenizer) -> None:
    assert tok.encode(EOT_TEXT) == [27, 91, 437, 1659, 5239, 91, 29]
    assert tok.decode([tok.eot_id]) == "<|endoftext|>"


def test_endoftext_opt_in(tok: Tokenizer) -> None:
    assert len(SPECIAL_CASES) > 20
    for text, ids in SPECIAL_CASES:
        assert tok.encode(text, allowed_special="all") == ids, text
        assert tok.encode(text, allowed_special={EOT_TEXT}) == ids, text
        assert tok.decode(ids) == text


def test_allowed_special_is_checked(tok: Tokenizer) -> None:
    with pytest.raises(ValueError, match="not special tokens"):
        tok.encode("x", allowed_special={"<|im_start|>"})
    with pytest.raises(ValueError, match="a set of special tokens"):
        tok.encode("x", allowed_special=EOT_TEXT)  # type: ignore[arg-type]  # the mistake under test


# --- Decoding, all at once and as a stream --------------------------------------------------------
def test_decode_rejects_unknown_ids(tok: Tokenizer) -> None:
    for bad in (50257, -1, 10**9):
        with pytest.raises(ValueError, match=f"token id {bad} is not in the vocabulary"):
            tok.decode([15496, bad])


def test_decode_replaces_broken_utf8(tok: Tokenizer) -> None:
    hugging_face = [8582, 97, 245]  # '🤗' from the fixture: its bytes F0 9F | A4 | 97 in 3 tokens
    assert tok.decode_bytes(hugging_face) == "🤗".encode("utf-8")
    assert tok.decode(hugging_face) == "🤗"
    assert tok.decode(hugging_face[:2]) == "\ufffd"  # F0 9F A4: one incomplete character
    assert tok.decode(hugging_face[1:]) == "\ufffd\ufffd"  # A4 97: two continuation bytes, no lead


def test_stream_holds_back_incomplete_characters(tok: Tokenizer) -> None:
    d = tok.decoder()
    assert [d.add(i) for i in [15496, 8582, 97, 245, 995]] == ["Hello", "", "", "🤗", " world"]
    assert d.flush() == ""


def test_stream_flush_gives_the_broken_rest(tok: Tokenizer) -> None:
    d = tok.decoder()
    assert d.add(15496) + d.add(8582) + d.add(97) == "Hello"
    assert d.flush() == "\ufffd"  # as decode() renders the same bytes
    assert d.add(995) == " world"  # and the decoder starts afresh


def test_stream_never_shows_replacement_characters_for_valid_text(tok: Tokenizer) -> None:
    split_somewhere = 0
    for text, ids in CASES:
        if has_surrogates(text) or "\ufffd" in text:
            continue
        d = tok.decoder()
        pieces = [d.add(i) for i in ids]
        assert all("\ufffd" not in piece for piece in pieces), text
        assert "".join(pieces) + d.flush() == text
        split_somewhere += any(piece == "" for piece in pieces)
    assert split_somewhere > 100  # many cases really do split characters across tokens


def test_stream_matches_decode_on_random_ids(tok: Tokenizer) -> None:
    rng = random.Random(99)
    # Tokens that are pieces of multi-byte characters, mixed with ordinary ones.
    partial = sorted({i for _, ids in CASES for i in ids if tok.decode([i]).count("\ufffd")})
    assert len(partial) > 50
    for _ in range(500):
        ids = [rng.choice(partial) if rng.random() < 0.7 else rng.randrange(tok.vocab_size)
               for _ in range(rng.randint(0, 12))]
        d = tok.decoder()
        assert "".join(d.add(i) for i in ids) + d.flush() == tok.decode(ids), ids


# --- Very long words: encoded in near-linear time (fast/bpe.py), never a hang -----------------
ENCODE_LONG_WORDS = """
import random
from potatogpt.tokenizer import Tokenizer
tokenizer = Tokenizer.gpt2()
for alphabet in ("abcdefghijklmnopqrstuvwxyz", "".join(map(chr, range(0x4E00, 0x9FFF))), "0123456789"):
    word = "".join(random.Random(1).choice(alphabet) for _ in range(40_000))
    assert tokenizer.decode(tokenizer.encode(word)) == word
print("ok")
"""


def test_a_40000_letter_word_encodes_without_hanging() -> None:
    assert in_a_subprocess(ENCODE_LONG_WORDS, timeout=30).strip() == "ok"  # was about 45 s per word
