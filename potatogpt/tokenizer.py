"""GPT-2's tokenizer: byte-level BPE, exactly as OpenAI ran it, in the standard library only.

Text becomes token ids in four steps, one function each, so each can be read and tested alone:

    "Hello world!"
      1. pre_tokenize    -> ["Hello", " world", "!"]        split with GPT-2's regular expression
      2. UTF-8 + bytes_to_unicode                             each byte becomes one printable symbol
                         -> ["Hello", "Ġworld", "!"]        (the space byte 0x20 is shown as 'Ġ')
      3. bpe             -> ["Hello"], ["Ġworld"], ["!"]     merge symbol pairs, earliest-learned first
      4. vocabulary      -> [15496, 995, 0]                  look each merged piece up in encoder.json

Decoding runs the lookups backwards: ids -> bytes -> UTF-8 text.  Because a token is a string of
*bytes*, one character can be split across tokens ('🤗' is 3 tokens); IncrementalDecoder holds such
bytes back until the character is complete, for printing tokens as they are generated.

The vocabulary files are OpenAI's: encoder.json (token text -> id) and vocab.bpe (the merges,
in the order they were learned).  GPT-2's own copies ship in potatogpt/data.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from pathlib import Path
from typing import Literal

from .data.unicode_classes import LETTER_RANGES, NUMBER_RANGES, WHITE_SPACE_RANGES
from .fast.bpe import fast_bpe
from .weights import vocab_files
from .weights.vocab_files import Vocabulary

__all__ = [
    "EOT_TEXT",
    "GPT2_PATTERN",
    "IncrementalDecoder",
    "Tokenizer",
    "TokenizerError",
    "bpe",
    "bpe_merges",
    "bytes_to_unicode",
    "merge",
    "merge_steps",
    "pre_tokenize",
    "symbols_to_bytes",
]

EOT_TEXT = "<|endoftext|>"  # GPT-2's one special token: it separated documents during training
GPT2_VOCAB_SIZE = 50257  # 256 bytes + 50,000 merges + <|endoftext|>


class TokenizerError(ValueError):
    """A vocabulary is missing or damaged.  The message is one line: which file, what, what to do."""


# --- Step 1: bytes as printable symbols -----------------------------------------------------------
def bytes_to_unicode() -> dict[int, str]:
    """The character that stands for each of the 256 byte values in GPT-2's vocabulary files.

    BPE works on bytes, but OpenAI stored the vocabulary as JSON text, where raw control bytes or
    spaces would be unreadable or ambiguous.  So every byte gets a visible stand-in: the 188 bytes
    that are printable Latin-1 characters stand for themselves ('a' is 'a', 'é' is 'é'), and the
    other 68 (control codes, space, DEL, no-break space, soft hyphen) take U+0100, U+0101, ... in
    byte order.  That is why the space byte is 'Ġ' (U+0120) and GPT-2's vocabulary is full of 'Ġthe'.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),  # ASCII without space and control codes
        *range(ord("¡"), ord("¬") + 1),  # Latin-1 up to the soft hyphen (0xAD, invisible)
        *range(ord("®"), ord("ÿ") + 1),  # and the rest of Latin-1 after it
    ]
    table = {b: chr(b) for b in printable}
    shifted = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shifted)
            shifted += 1
    return dict(sorted(table.items()))


BYTE_TO_UNICODE = bytes_to_unicode()
UNICODE_TO_BYTE = {symbol: b for b, symbol in BYTE_TO_UNICODE.items()}


def symbols_to_bytes(symbols: str) -> bytes:
    """A vocabulary entry back to the bytes it stands for: 'Ġworld' -> b' world'."""
    return bytes([UNICODE_TO_BYTE[c] for c in symbols])


# --- Step 2: pre-tokenization ---------------------------------------------------------------------
# GPT-2 first cuts text into words with this pattern (the `regex` package's syntax):
#
#     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
#
# and BPE then works inside each word, never across two, so this split decides a lot.  The stdlib
# `re` has no \p{L} (letters) or \p{N} (numbers), and its \s also matches U+001C..U+001F, which
# GPT-2's does not.  So we spell the three classes out as code-point ranges, frozen once by
# tools/gen_unicode_classes.py: tokens then do not depend on the Unicode version of your Python.
def char_class(ranges: Sequence[tuple[int, int]], *, negate: bool = False) -> str:
    r"""A regular-expression character class, e.g. [(0x41, 0x5A), (0x61, 0x7A)] -> '[\U00000041-...]'."""
    items = "".join(
        f"\\U{first:08x}" if first == last else f"\\U{first:08x}-\\U{last:08x}" for first, last in ranges
    )
    return f"[{'^' if negate else ''}{items}]"


_LETTER = char_class(LETTER_RANGES)  # \p{L}
_NUMBER = char_class(NUMBER_RANGES)  # \p{N}
_SPACE = char_class(WHITE_SPACE_RANGES)  # \s
_NOT_SPACE = char_class(WHITE_SPACE_RANGES, negate=True)  # \S
_OTHER = char_class([*WHITE_SPACE_RANGES, *LETTER_RANGES, *NUMBER_RANGES], negate=True)  # [^\s\p{L}\p{N}]

# The alternatives are tried in order at each position, and the first that matches wins.
GPT2_PATTERN = re.compile("|".join([
    r"'s|'t|'re|'ve|'m|'ll|'d",  # English contractions; case-sensitive, so "'S" is not one
    rf" ?{_LETTER}+",  # a word, with at most one space glued to its front
    rf" ?{_NUMBER}+",  # digits, and also '²', '½', 'Ⅻ' (which stdlib's [^\W\d_] takes for letters)
    rf" ?{_OTHER}+",  # anything else: punctuation, symbols, emoji, combining accents
    rf"{_SPACE}+(?!{_NOT_SPACE})",  # white space, less its last character if a non-space follows
    rf"{_SPACE}+",  # that last character, when the rules above leave it alone: the "\n" in "\nHi"
]))


def pre_tokenize(text: str) -> list[str]:
    """Cut text into GPT-2's words: 'Hello  world' -> ['Hello', ' ', ' world'].

    Runs of white space give their last space to the next word ("\\s+(?!\\S)" backs off one
    character), so '  world' tokenizes like ' world' after a space token.  Joining the pieces
    always gives back the text: every character lands in exactly one piece.
    """
    return GPT2_PATTERN.findall(text)


# --- Step 3: byte-pair merging --------------------------------------------------------------------
def merge(parts: list[str], pair: tuple[str, str]) -> list[str]:
    """Join each occurrence of `pair` into one part, left to right: a,a,a + (a,a) -> aa,a."""
    merged: list[str] = []
    i = 0
    while i < len(parts):
        if i + 1 < len(parts) and parts[i] == pair[0] and parts[i + 1] == pair[1]:
            merged.append(pair[0] + pair[1])
            i += 2
        else:
            merged.append(parts[i])
            i += 1
    return merged


_NOT_A_MERGE = float("inf")  # a rank beyond every real one, for pairs that never merge


def bpe_merges(symbols: str, ranks: Mapping[tuple[str, str], int]) -> Iterator[tuple[tuple[str, str], list[str]]]:
    """Merge one word's byte symbols into vocabulary pieces, one merge at a time: yields each
    pair merged and the parts after it.

    `ranks` gives each learned merge its position in vocab.bpe.  We replay training: of all
    adjacent pairs, merge the one learned earliest (lowest rank), and repeat until no adjacent
    pair is a known merge.  Every piece left is then a token in the vocabulary.
    """
    parts = list(symbols)
    while len(parts) >= 2:
        pairs = zip(parts, parts[1:])
        best = min(pairs, key=lambda pair: ranks.get(pair, _NOT_A_MERGE))
        if best not in ranks:
            return
        parts = merge(parts, best)
        yield best, parts


def bpe(symbols: str, ranks: Mapping[tuple[str, str], int]) -> list[str]:
    """One word's byte symbols as vocabulary pieces: 'Ġworld' -> ['Ġworld'] (the parts left
    after the last of `bpe_merges`)."""
    parts = list(symbols)
    for _pair, parts in bpe_merges(symbols, ranks):
        pass
    return parts


# Encoding remembers each word it has seen (English reuses a few thousand words endlessly).  The
# cache is simply emptied when it gets this big, so a long-running program's memory stays bounded.
CACHE_SIZE = 100_000
# Words longer than this many byte symbols are merged by fast_bpe, which makes the very same
# merges as bpe() in O(n log n); shorter ones (all but freak words) by bpe() itself.
LONG_WORD = 64


# --- Step 4: the tokenizer ------------------------------------------------------------------------
class Tokenizer:
    """GPT-2's tokenizer: `encode(text) -> ids`, `decode(ids) -> text`.

    Make one with `Tokenizer.gpt2()` (the bundled vocabulary) or `Tokenizer.from_dir(folder)`.
    """

    def __init__(self, encoder: Mapping[str, int], merges: Sequence[tuple[str, str]], *,
                 origin: str = "the vocabulary") -> None:
        """`encoder`: token text -> id, as in encoder.json; `merges`: pairs in vocab.bpe order.

        Checks that the two fit together, naming `origin` in the TokenizerError if they don't.
        """
        problem = _vocab_problem(encoder, merges)
        if problem:
            raise TokenizerError(f"{origin}: {problem}; use the encoder.json and vocab.bpe that came with the model")
        self.origin = origin  # where the vocabulary came from, for messages
        self._encoder = dict(encoder)
        self._ranks = {pair: rank for rank, pair in enumerate(merges)}
        self._bytes = {i: symbols_to_bytes(token) for token, i in self._encoder.items()}  # for decoding
        self.eot_id = self._encoder[EOT_TEXT]
        self.special_tokens = {EOT_TEXT: self.eot_id}
        self._cache: dict[str, tuple[int, ...]] = {}

    # --- constructors ---
    @classmethod
    def gpt2(cls) -> Tokenizer:
        """GPT-2's own vocabulary, bundled with potatogpt: works offline, checked by sha256."""
        return cls(*_vocabulary(vocab_files.read_bundled), origin=str(vocab_files.DATA_DIR))

    @classmethod
    def from_contents(cls, encoder_path: Path, encoder_bytes: bytes, merges_path: Path, merges_bytes: bytes,
                      *, origin: str) -> Tokenizer:
        """A vocabulary from the bytes of its two files, already read (and checked) by the caller;
        the paths are only for messages."""
        return cls(*_vocabulary(lambda: vocab_files.parse_vocabulary(encoder_path, encoder_bytes, merges_path,
                                                                     merges_bytes)), origin=origin)

    @classmethod
    def from_dir(cls, path: str | os.PathLike[str]) -> Tokenizer:
        """The vocabulary stored in a weights folder: OpenAI's encoder.json + vocab.bpe, or
        Hugging Face's vocab.json + merges.txt (the same data under other names)."""
        return cls(*_vocabulary(lambda: vocab_files.read_folder(path)), origin=str(Path(path)))

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, origin={self.origin!r})"

    # --- encoding ---
    @property
    def vocab_size(self) -> int:
        return len(self._encoder)

    def encode(self, text: str, *, allowed_special: Set[str] | Literal["all"] = frozenset()) -> list[int]:
        """Text -> token ids: 'Hello world' -> [15496, 995].

        The text '<|endoftext|>' is encoded as the plain characters it is made of, unless
        `allowed_special` names it (or is "all"): then it becomes the special id 50256.  Keeping
        that off by default stops text from a user or a web page from faking a document boundary.
        """
        text = _without_lone_surrogates(text)
        allowed = self._allowed_specials(allowed_special)
        if not allowed:
            return self._encode_ordinary(text)
        # Cut the text at each allowed special token; the pieces between are ordinary text.
        splitter = re.compile("(" + "|".join(re.escape(s) for s in sorted(allowed, key=len, reverse=True)) + ")")
        ids: list[int] = []
        for i, piece in enumerate(splitter.split(text)):
            if i % 2:  # re.split puts the separators it captured at the odd positions
                ids.append(self.special_tokens[piece])
            else:
                ids.extend(self._encode_ordinary(piece))
        return ids

    def _allowed_specials(self, allowed_special: Set[str] | Literal["all"]) -> Set[str]:
        if allowed_special == "all":
            return self.special_tokens.keys()
        if not isinstance(allowed_special, Set):  # e.g. a lone string, which would pass as a set of characters
            raise ValueError(f"allowed_special must be a set of special tokens or 'all', not {allowed_special!r}")
        unknown = set(allowed_special) - self.special_tokens.keys()
        if unknown:
            raise ValueError(f"not special tokens: {sorted(unknown)}; this vocabulary has {sorted(self.special_tokens)}")
        return allowed_special

    def _encode_ordinary(self, text: str) -> list[int]:
        ids: list[int] = []
        cache = self._cache
        for word in pre_tokenize(text):
            word_ids = cache.get(word)
            if word_ids is None:
                word_ids = self._encode_word(word)
            ids.extend(word_ids)
        return ids

    def _encode_word(self, word: str) -> tuple[int, ...]:
        """One pre-token -> its ids (steps 2 to 4), remembered in the cache."""
        symbols = "".join(BYTE_TO_UNICODE[b] for b in word.encode("utf-8"))
        # bpe() rescans the word once per merge: nothing for real words, quadratic for a huge one.
        merge_pieces = bpe if len(symbols) <= LONG_WORD else fast_bpe
        word_ids = tuple(self._encoder[piece] for piece in merge_pieces(symbols, self._ranks))
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[word] = word_ids
        return word_ids

    # --- decoding ---
    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """Token ids -> the bytes they stand for (not always whole UTF-8 characters)."""
        try:
            return b"".join([self._bytes[i] for i in ids])
        except KeyError as e:
            raise ValueError(f"token id {e.args[0]!r} is not in the vocabulary (ids 0..{self.vocab_size - 1})") from None

    def decode(self, ids: Sequence[int]) -> str:
        """Token ids -> text: [15496, 995] -> 'Hello world'.  Invalid UTF-8 becomes U+FFFD ('�'),
        as it can when the ids were sampled rather than encoded."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def decoder(self) -> IncrementalDecoder:
        """A decoder for a stream of ids, one at a time: see IncrementalDecoder."""
        return IncrementalDecoder(self)


class IncrementalDecoder:
    """Decode token ids as they arrive, emitting only complete characters.

        d = tokenizer.decoder()
        for token in tokens:
            print(d.add(token), end="")   # '' while a character is still incomplete
        print(d.flush())                  # whatever is left; broken bytes become '�'

    What it prints in total is exactly tokenizer.decode(all the ids).
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        # The standard library's incremental UTF-8 decoder does the holding back: it keeps a
        # trailing incomplete sequence until more bytes come, and reports bytes that can never be
        # valid at once, as U+FFFD.
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def add(self, token_id: int) -> str:
        """Feed one id; get the text it completes: '' while a character is still partial."""
        return self._utf8.decode(self._tokenizer.decode_bytes([token_id]))

    def flush(self) -> str:
        """End of stream: return what is held back (an incomplete character becomes U+FFFD),
        and start afresh."""
        rest = self._utf8.decode(b"", final=True)
        self._utf8.reset()
        return rest


def _vocabulary(read: Callable[[], Vocabulary]) -> Vocabulary:
    """What `read` returns, its file problems reported as a TokenizerError (the tokenizer's one error)."""
    try:
        return read()
    except vocab_files.VocabFileError as e:
        raise TokenizerError(str(e)) from None


# --- Checking a vocabulary ---------------------------------------------------------------------
def _vocab_problem(encoder: Mapping[str, int], merges: Sequence[tuple[str, str]]) -> str:
    """What makes this vocabulary unusable, or '' if nothing does."""
    if sorted(encoder.values()) != list(range(len(encoder))):
        return "token ids are not exactly 0, 1, ..., N-1"
    strange = next((token for token in encoder if not set(token) <= UNICODE_TO_BYTE.keys()), None)
    if strange is not None:
        return f"token {strange!r} has characters that stand for no byte"
    missing = [s for s in BYTE_TO_UNICODE.values() if s not in encoder]
    if missing:
        return f"{len(missing)} of the 256 single-byte tokens are missing (e.g. {missing[0]!r})"
    if not merges and any(len(token) > 1 and token != EOT_TEXT for token in encoder):
        return "there are no merges, so no token longer than one byte could ever be used"
    for rank, (first, second) in enumerate(merges):
        if first + second not in encoder:
            return f"merge {rank} ({first!r} + {second!r}) makes a token that is not in the vocabulary"
    if EOT_TEXT not in encoder:
        return f"the special token {EOT_TEXT} is not in the vocabulary"
    return ""


def _without_lone_surrogates(text: str) -> str:
    """Text that can be written as UTF-8.

    A Python string may hold surrogate code points (U+D800..U+DFFF), e.g. from a bad JSON
    escape; UTF-8 cannot.  As tiktoken does, a proper high+low pair becomes the character it
    encodes, and a lone surrogate becomes U+FFFD.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


# --- BPE, one step at a time (for explaining it) --------------------------------------------------
def merge_steps(tokenizer: Tokenizer, word: str) -> Iterator[tuple[int, tuple[str, str], list[str]]]:
    """Each merge `bpe` makes in one pre-token, in order: (rank, the pair merged, the parts after),
    which `python -m potatogpt tokens` prints: 'rank 9  a+t -> Ġ K a r p at h y'.
    The parts after the last step are the word's tokens.
    """
    symbols = "".join(BYTE_TO_UNICODE[b] for b in word.encode("utf-8"))
    for pair, parts in bpe_merges(symbols, tokenizer._ranks):
        yield tokenizer._ranks[pair], pair, parts
