"""Learning a byte-level BPE vocabulary from text: where a vocab.bpe like GPT-2's comes from.

tokenizer.py *applies* merges; this module *learns* them, the way OpenAI learnt GPT-2's 50,000
(Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword Units"):

    text -> pre_tokenize            GPT-2's words: merges never cross a word boundary
         -> word_counts             each distinct word once, as byte symbols, with how often it occurs:
                                    {('Ġ', 't', 'h', 'e'): 812, ('Ġ', 'a'): 377, ...}
    repeat until the vocabulary has vocab_size tokens:
         get_stats                  how often each adjacent pair of symbols occurs (word counts added up)
         best_pair                  the most frequent pair
         merge_words                join that pair into one symbol in every word; it is a new token

The merges, in the order they were learnt, are vocab.bpe; tokenizer.py replays them earliest
first, so encoding the training text gives exactly the symbols training ended with.

**Ties.** When several pairs are equally frequent, `best_pair` takes the one whose bytes sort
first: compare the first symbol's bytes, then the second's (so (b'a', b'b') before (b'a', b'c')
before (b'b', b'a')).  The result therefore depends only on the text, never on the order a dict
happens to be in.

**Token ids.** 0..255 are the single bytes, id = byte value (the token for b'A' is 65); the learnt
tokens follow in the order they were learnt; `<|endoftext|>` is the last id, as in GPT-2 (50256).
The byte-level vocabulary (`byte_level()`, 257 tokens) is the same thing with no merges.

Two learners make the same merges: `learn_merges_plainly`, the loop above written out, which
recounts every pair after every merge; and fast/bpe_learning.py's `learn_merges`, which keeps the
counts up to date instead (only the words that hold the merged pair change), fast enough for
megabytes of text.  `learn_vocabulary` uses the fast one; tests check the two agree.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .fast.bpe_learning import learn_merges
from .tokenizer import BYTE_TO_UNICODE, EOT_TEXT, Tokenizer, merge, pre_tokenize, symbols_to_bytes
from .weights.vocab_files import VOCAB_FILE_NAMES
from .weights.writer import write_bytes_atomically

__all__ = [
    "BYTE_LEVEL_VOCAB_SIZE",
    "BPEVocabulary",
    "Pair",
    "Word",
    "best_pair",
    "byte_level",
    "get_stats",
    "learn_merges_plainly",
    "learn_vocabulary",
    "merge_words",
    "word_counts",
    "write_tokenizer_files",
]

Word = tuple[str, ...]  # one pre-token as its current symbols: ('Ġ', 'th', 'e')
Pair = tuple[str, str]  # two adjacent symbols: ('th', 'e')

BYTE_LEVEL_VOCAB_SIZE = 257  # the 256 bytes and <|endoftext|>: the smallest vocabulary there is
ENCODER_FILE, MERGES_FILE = VOCAB_FILE_NAMES[0]  # OpenAI's names: encoder.json, vocab.bpe


# --- The steps, one function each -----------------------------------------------------------------
def word_counts(texts: Iterable[str]) -> dict[Word, int]:
    """Each distinct pre-token of the texts, as byte symbols, with how often it occurs.

    'the cat, the hat' -> {('t','h','e'): 1, ('Ġ','c','a','t'): 1, (',',): 1, ('Ġ','t','h','e'): 1,
    ('Ġ','h','a','t'): 1}.  Counting each distinct word once is what makes learning fast: a few MB
    of English have a few hundred thousand words but only tens of thousands of distinct ones.
    """
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(pre_tokenize(text))
    return {tuple(BYTE_TO_UNICODE[b] for b in word.encode("utf-8")): n for word, n in sorted(counts.items())}


def get_stats(words: Mapping[Word, int]) -> dict[Pair, int]:
    """How often each adjacent pair of symbols occurs: a pair inside a word counts as often as the word.

    {('a','a','a'): 2, ('a','b'): 1} -> {('a','a'): 4, ('a','b'): 1}
    """
    stats: dict[Pair, int] = {}
    for word, count in words.items():
        for pair in zip(word, word[1:]):
            stats[pair] = stats.get(pair, 0) + count
    return stats


def tie_break(pair: Pair) -> tuple[bytes, bytes]:
    """Among equally frequent pairs, the smallest of these goes first (see the module docstring)."""
    return symbols_to_bytes(pair[0]), symbols_to_bytes(pair[1])


def best_pair(stats: Mapping[Pair, int]) -> Pair:
    """The most frequent pair; of equally frequent ones, the one whose bytes sort first."""
    return min(stats, key=lambda pair: (-stats[pair], tie_break(pair)))


def merge_words(words: Mapping[Word, int], pair: Pair) -> dict[Word, int]:
    """Every word with each occurrence of `pair` joined into one symbol (tokenizer.merge, left to right).

    Two different words never become the same word (their symbols still spell different bytes),
    so the counts carry over unchanged.
    """
    return {tuple(merge(list(word), pair)): count for word, count in words.items()}


def learn_merges_plainly(words: Mapping[Word, int], vocab_size: int) -> list[Pair]:
    """The merges that grow the byte-level vocabulary to `vocab_size` tokens: the steps above, in a loop.

    Stops early if no word has two symbols left to merge.  Every merge normally makes a new
    token; a merge whose result is already a token (the same bytes reached by another route) is
    kept, since encoding needs it, but adds none.  Counting all pairs again after every merge
    makes this slow for big texts: fast/bpe_learning.py's `learn_merges` gets the same merges faster.
    """
    check_vocab_size(vocab_size)
    tokens = set(BYTE_TO_UNICODE.values()) | {EOT_TEXT}
    merges: list[Pair] = []
    while len(tokens) < vocab_size:
        stats = get_stats(words)
        if not stats:
            break
        pair = best_pair(stats)
        merges.append(pair)
        tokens.add(pair[0] + pair[1])
        words = merge_words(words, pair)
    return merges


def check_vocab_size(vocab_size: int) -> None:
    if vocab_size < BYTE_LEVEL_VOCAB_SIZE:
        raise ValueError(f"a vocabulary size of {vocab_size} is too small: a byte-level vocabulary has "
                         f"{BYTE_LEVEL_VOCAB_SIZE} tokens (256 bytes and {EOT_TEXT}) before any merge")


# --- The vocabulary and its files -----------------------------------------------------------------
@dataclass(frozen=True)
class BPEVocabulary:
    """A learnt vocabulary: the merges in the order they were learnt, and every token's id."""

    merges: list[Pair]
    encoder: dict[str, int]  # token (byte symbols) -> id, as in encoder.json

    @classmethod
    def from_merges(cls, merges: list[Pair]) -> BPEVocabulary:
        """Ids as the module docstring says: bytes by value, then learnt tokens, then <|endoftext|>."""
        encoder = {BYTE_TO_UNICODE[b]: b for b in range(256)}
        for first, second in merges:
            encoder.setdefault(first + second, len(encoder))
        if EOT_TEXT in encoder:  # pre_tokenize never keeps '<|' and 'endoftext' in one word
            raise ValueError(f"the merges spell {EOT_TEXT}, which must stay the special token")
        encoder[EOT_TEXT] = len(encoder)
        return cls(list(merges), encoder)

    @property
    def vocab_size(self) -> int:
        return len(self.encoder)

    def tokenizer(self) -> Tokenizer:
        return Tokenizer(self.encoder, self.merges, origin="the learnt vocabulary")

    def encoder_json(self) -> bytes:
        """encoder.json: one token per line, in id order, characters as themselves (UTF-8)."""
        return (json.dumps(self.encoder, ensure_ascii=False, indent=1) + "\n").encode("utf-8")

    def vocab_bpe(self) -> bytes:
        """vocab.bpe: OpenAI's '#version: 0.2' line, then one merge per line, 'Ġ t'.  A symbol
        never holds a space or a line end (bytes_to_unicode shows those bytes as other characters)."""
        return ("#version: 0.2\n" + "".join(f"{first} {second}\n" for first, second in self.merges)).encode("utf-8")


def byte_level() -> BPEVocabulary:
    """The 256 bytes and <|endoftext|>: every text is one token per byte."""
    return BPEVocabulary.from_merges([])


def learn_vocabulary(texts: Iterable[str], vocab_size: int) -> BPEVocabulary:
    """A byte-level BPE of `vocab_size` tokens learnt from `texts` (fewer if the texts run out of
    pairs; vocab_size 257 is the byte-level vocabulary)."""
    check_vocab_size(vocab_size)
    return BPEVocabulary.from_merges(learn_merges(word_counts(texts), vocab_size, tie_break))


def write_tokenizer_files(vocabulary: BPEVocabulary, folder: str | os.PathLike[str]) -> list[dict[str, object]]:
    """Write encoder.json and vocab.bpe into `folder`; return their manifest.json "tokenizer" entries.

    Each file is written to a temporary name beside it, flushed to disk, then renamed, so a crash
    leaves the old file or the new one, never half of one.  The entries have the form
    convert/export.py's copy_file gives the manifest: {"file", "bytes", "sha256"}.  The files
    are read back as the loader will read them before this returns.
    """
    folder = Path(folder)
    entries: list[dict[str, object]] = []
    for name, data in ((ENCODER_FILE, vocabulary.encoder_json()), (MERGES_FILE, vocabulary.vocab_bpe())):
        write_bytes_atomically(folder / name, data)
        entries.append({"file": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    encoder_path, merges_path = folder / ENCODER_FILE, folder / MERGES_FILE
    read_back = Tokenizer.from_contents(encoder_path, encoder_path.read_bytes(), merges_path, merges_path.read_bytes(),
                                        origin=str(folder))
    if read_back.vocab_size != vocabulary.vocab_size:  # only a bug here could cause it
        raise AssertionError(f"{folder}: wrote {vocabulary.vocab_size} tokens, read back {read_back.vocab_size}")
    return entries
