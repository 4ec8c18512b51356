"""Learning a BPE vocabulary: each step on hand-worked examples, the fast learner against the plain
one, the learnt tokenizer through tokenizer.py, and its files through the weights-folder loader."""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from helpers import one_line_error

import potatogpt
from potatogpt.config import GPT2Config
from potatogpt.learn_bpe import (
    BPEVocabulary,
    Pair,
    Word,
    best_pair,
    byte_level,
    get_stats,
    learn_merges_plainly,
    learn_vocabulary,
    merge_words,
    tie_break,
    word_counts,
    write_tokenizer_files,
)
from potatogpt.tokenizer import BYTE_TO_UNICODE, EOT_TEXT, Tokenizer, TokenizerError, pre_tokenize
from potatogpt.fast.bpe_learning import learn_merges
from potatogpt.weights.catalogue import expected_shape, tensor_file_name, tensor_names
from potatogpt.weights.checkpoint import open_checkpoint
from potatogpt.weights.manifest import FORMAT_NAME, FORMAT_VERSION, MANIFEST_NAME

Learner = Callable[[Mapping[Word, int], int], list[Pair]]


def learn_fast(words: Mapping[Word, int], vocab_size: int) -> list[Pair]:
    """fast/bpe_learning.py's learner, with learn_bpe's tie-breaking (as learn_vocabulary calls it)."""
    return learn_merges(words, vocab_size, tie_break)

# The classic example (Wikipedia's "Byte pair encoding"), worked by hand with our tie-breaking:
#   a a a b d a a a b a c    pairs: aa 4, ab 2, bd ba da ac 1          -> merge a+a (most frequent)
#   aa a b d aa a b a c      pairs: aa+a 2, a+b 2, ...                  -> a+b: ties go to the smaller
#                                                                          bytes, b"a" < b"aa"
#   aa ab d aa ab a c        pairs: aa+ab 2, the rest 1                 -> aa+ab
#   aaab d aaab a c          all 1: aaab+d, d+aaab, aaab+a, a+c         -> a+c (b"a" sorts first)
#   aaab d aaab ac           all 1: aaab+d, d+aaab, aaab+ac             -> aaab+ac (b"ac" < b"d")
#   aaab d aaabac
CLASSIC = "aaabdaaabac"
CLASSIC_MERGES: list[Pair] = [("a", "a"), ("a", "b"), ("aa", "ab"), ("a", "c"), ("aaab", "ac")]

# Word counts matter: " xy" twice outweighs "xy" once.
#   words: xy 1, Ġxy 2, Ġyz 2     pairs: x+y 3, Ġ+x 2, Ġ+y 2, y+z 2   -> x+y
#   xy, Ġ xy, Ġ y z              pairs: Ġ+xy 2, Ġ+y 2, y+z 2          -> Ġ+xy (b" ", b"xy" < b" ", b"y")
#   then Ġ+y, then Ġy+z, and no word has two symbols left: learning stops after 4 merges.
COUNTED = "xy xy xy yz yz"
COUNTED_MERGES: list[Pair] = [("x", "y"), ("Ġ", "xy"), ("Ġ", "y"), ("Ġy", "z")]

MIXED = ("The quick brown fox, the lazy dog; the end.\n\tTabs  and   spaces\r\nnaïve café 東京 🤗 "
         "it's 1,234.5 <|endoftext|> done\n\n")


# --- The steps --------------------------------------------------------------------------------
def test_word_counts_are_byte_symbols_of_each_distinct_pre_token() -> None:
    assert word_counts(["the cat, the hat"]) == {
        ("t", "h", "e"): 1, ("Ġ", "c", "a", "t"): 1, (",",): 1, ("Ġ", "t", "h", "e"): 1, ("Ġ", "h", "a", "t"): 1}
    assert word_counts(["a a", " a é"]) == {("a",): 1, ("Ġ", "a"): 2, ("Ġ", "Ã", "©"): 1}  # é is 0xC3 0xA9


def test_get_stats_weights_pairs_by_word_count() -> None:
    assert get_stats({("a", "a", "a"): 2, ("a", "b"): 1}) == {("a", "a"): 4, ("a", "b"): 1}
    assert get_stats({("x",): 5}) == {}


def test_best_pair_is_the_most_frequent() -> None:
    assert best_pair({("a", "b"): 2, ("c", "d"): 3, ("e", "f"): 1}) == ("c", "d")


def test_ties_go_to_the_pair_whose_bytes_sort_first() -> None:
    assert best_pair({("b", "a"): 2, ("a", "c"): 2, ("a", "b"): 2, ("a", "a"): 1}) == ("a", "b")
    # By bytes, not by the symbols standing for them: 'Ġ' (U+0120) is the byte 0x20, before 'a'
    # (0x61); 'Ā' (U+0100) is the byte 0x00, before everything.
    assert best_pair({("a", "b"): 1, ("Ġ", "b"): 1}) == ("Ġ", "b")
    assert best_pair({("!", "b"): 1, ("Ā", "b"): 1}) == ("Ā", "b")
    assert best_pair({("a", "b"): 1, ("aa", "a"): 1}) == ("a", "b")  # b"a" < b"aa"


def test_merge_words_joins_each_occurrence_left_to_right() -> None:
    words: dict[Word, int] = {("a", "a", "a"): 2, ("b", "a", "a", "a", "a"): 1, ("c",): 7}
    assert merge_words(words, ("a", "a")) == {("aa", "a"): 2, ("b", "aa", "aa"): 1, ("c",): 7}


@pytest.mark.parametrize("learn", [learn_merges_plainly, learn_fast])
def test_the_classic_example_merges_in_the_hand_worked_order(learn: Learner) -> None:
    assert learn(word_counts([CLASSIC]), 257 + 5) == CLASSIC_MERGES
    assert learn(word_counts([CLASSIC]), 257 + 2) == CLASSIC_MERGES[:2]


@pytest.mark.parametrize("learn", [learn_merges_plainly, learn_fast])
def test_word_counts_decide_and_learning_stops_when_nothing_is_left(learn: Learner) -> None:
    assert learn(word_counts([COUNTED]), 10_000) == COUNTED_MERGES


def test_a_vocabulary_smaller_than_the_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="256 bytes"):
        learn_merges_plainly(word_counts([CLASSIC]), 256)
    with pytest.raises(ValueError, match="256 bytes"):
        learn_vocabulary([CLASSIC], 256)


def random_text(seed: int, n_words: int) -> str:
    """Words over a tiny alphabet, so pairs tie and overlap often (aaaa, abab): the hard cases."""
    rng = random.Random(seed)
    words = ["".join(rng.choice("aab ") for _ in range(rng.randint(1, 9))) for _ in range(n_words)]
    return " ".join(words) + rng.choice(["", ".", "\n", " 12 34"])


ENGLISH = ("It was the best of times, it was the worst of times, it was the age of wisdom, it was the age "
           "of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season "
           "of Light, it was the season of Darkness, it was the spring of hope, it was the winter of despair.")


@pytest.mark.parametrize("text", [random_text(seed, 300) for seed in range(4)] + [ENGLISH * 3 + MIXED])
def test_the_fast_learner_makes_the_plain_learners_merges(text: str) -> None:
    words = word_counts([text])
    for vocab_size in (258, 300, 400):
        assert learn_fast(words, vocab_size) == learn_merges_plainly(words, vocab_size)


# --- The vocabulary ---------------------------------------------------------------------------
def test_ids_are_the_bytes_then_the_learnt_tokens_then_endoftext() -> None:
    vocabulary = BPEVocabulary.from_merges(CLASSIC_MERGES)
    assert vocabulary.vocab_size == 262
    assert vocabulary.encoder["Ā"] == 0 and vocabulary.encoder["Ġ"] == 32 and vocabulary.encoder["A"] == 65
    assert [vocabulary.encoder[t] for t in ["aa", "ab", "aaab", "ac", "aaabac", EOT_TEXT]] == [256, 257, 258, 259,
                                                                                                 260, 261]
    tokenizer = vocabulary.tokenizer()
    assert tokenizer.encode(CLASSIC) == [258, ord("d"), 260]
    assert tokenizer.eot_id == 261


def test_a_merge_that_spells_an_existing_token_adds_no_id() -> None:
    # 'abc' is reached twice: b+c then a+bc, and a+b then ab+c.
    vocabulary = BPEVocabulary.from_merges([("b", "c"), ("a", "bc"), ("a", "b"), ("ab", "c")])
    assert {t: i for t, i in vocabulary.encoder.items() if i >= 256} == {"bc": 256, "abc": 257, "ab": 258,
                                                                         EOT_TEXT: 259}


def test_byte_level_is_one_token_per_byte() -> None:
    vocabulary = byte_level()
    assert vocabulary.vocab_size == 257 and vocabulary.merges == []
    assert vocabulary.vocab_bpe() == b"#version: 0.2\n"
    tokenizer = vocabulary.tokenizer()
    assert tokenizer.encode("Hé 🤗") == [0x48, 0xC3, 0xA9, 0x20, 0xF0, 0x9F, 0xA4, 0x97]
    assert tokenizer.eot_id == 256


def apply_in_rank_order(word: str, merges: list[Pair]) -> list[str]:
    """Training's view of one pre-token: every merge applied in turn, each to all its occurrences."""
    parts = [BYTE_TO_UNICODE[b] for b in word.encode("utf-8")]
    for first, second in merges:
        parts = left_to_right(parts, first, second)
    return parts


def left_to_right(parts: list[str], first: str, second: str) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(parts):
        if i + 1 < len(parts) and (parts[i], parts[i + 1]) == (first, second):
            out.append(first + second)
            i += 2
        else:
            out.append(parts[i])
            i += 1
    return out


def test_the_tokenizer_encodes_as_the_merges_applied_in_rank_order() -> None:
    training = ENGLISH * 2 + random_text(7, 200)
    vocabulary = learn_vocabulary([training], 400)
    assert vocabulary.vocab_size == 400
    tokenizer = vocabulary.tokenizer()
    for text in [training, MIXED, "the winter of wisdom, the season of aab"]:
        expected = [vocabulary.encoder[part] for word in pre_tokenize(text)
                    for part in apply_in_rank_order(word, vocabulary.merges)]
        assert tokenizer.encode(text) == expected


@pytest.mark.parametrize("vocab_size", [257, 300, 600])
def test_the_learnt_tokenizer_decodes_what_it_encodes(vocab_size: int) -> None:
    vocabulary = learn_vocabulary([ENGLISH, MIXED], vocab_size)
    tokenizer = vocabulary.tokenizer()
    for text in [ENGLISH, MIXED, "unseen: ß∂ƒ©˙∆˚¬ 😀 \x00\x7f", ""]:
        ids = tokenizer.encode(text)
        assert tokenizer.decode(ids) == text
        assert all(0 <= i < vocab_size for i in ids)
    assert len(tokenizer.encode(ENGLISH)) < len(ENGLISH.encode("utf-8")) or vocab_size == 257


# --- The files --------------------------------------------------------------------------------
def test_the_files_are_written_with_their_manifest_entries(tmp_path: Path) -> None:
    entries = write_tokenizer_files(BPEVocabulary.from_merges(CLASSIC_MERGES), tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["encoder.json", "vocab.bpe"]  # no temporary file left
    assert (tmp_path / "vocab.bpe").read_bytes() == b"#version: 0.2\na a\na b\naa ab\na c\naaab ac\n"
    encoder = json.loads((tmp_path / "encoder.json").read_text(encoding="utf-8"))
    assert encoder["aaabac"] == 260 and encoder[EOT_TEXT] == 261 and encoder["Ġ"] == 32 and len(encoder) == 262
    for entry in entries:
        data = (tmp_path / str(entry["file"])).read_bytes()
        assert entry == {"file": entry["file"], "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert [entry["file"] for entry in entries] == ["encoder.json", "vocab.bpe"]
    assert Tokenizer.from_dir(tmp_path).encode(CLASSIC) == [258, ord("d"), 260]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    write_tokenizer_files(byte_level(), tmp_path)
    before = (tmp_path / "encoder.json").read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        write_tokenizer_files(BPEVocabulary.from_merges(CLASSIC_MERGES), tmp_path)
    assert (tmp_path / "encoder.json").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["encoder.json", "vocab.bpe"]


def write_weights_folder(folder: Path, vocabulary: BPEVocabulary) -> None:
    """A small model with the vocabulary's size, its tokenizer files listed in the manifest."""
    folder.mkdir()
    config = GPT2Config(n_layer=1, n_head=2, n_embd=4, n_ctx=8, vocab_size=vocabulary.vocab_size)
    rng = random.Random(0)
    tensors: list[dict[str, object]] = []
    for name in tensor_names(config):
        shape = expected_shape(name, config)
        count = 1
        for dim in shape:
            count *= dim
        data = struct.pack(f"<{count}f", *(rng.uniform(-0.1, 0.1) for _ in range(count)))
        (folder / tensor_file_name(name)).write_bytes(data)
        tensors.append({"name": name, "shape": list(shape), "file": tensor_file_name(name), "bytes": len(data),
                        "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "dtype": "float32, little-endian",
                "config": {"n_layer": 1, "n_head": 2, "n_embd": 4, "n_ctx": 8,
                           "vocab_size": vocabulary.vocab_size, "layer_norm_epsilon": 1e-5},
                "source": "test", "tensors": tensors, "tokenizer": write_tokenizer_files(vocabulary, folder)}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize("vocabulary", [byte_level(), BPEVocabulary.from_merges(CLASSIC_MERGES)],
                         ids=["byte-level", "learnt"])
def test_a_weights_folder_with_a_trained_tokenizer_loads(tmp_path: Path, vocabulary: BPEVocabulary) -> None:
    folder = tmp_path / "model"
    write_weights_folder(folder, vocabulary)
    tokenizer = open_checkpoint(folder, verify_sha256=True).tokenizer()
    assert tokenizer.vocab_size == vocabulary.vocab_size
    model = potatogpt.load(folder)
    assert model.tokenizer.encode(CLASSIC) == vocabulary.tokenizer().encode(CLASSIC)
    assert len(model.next_token_logits(model.tokenizer.encode("ab"))) == vocabulary.vocab_size


def test_merges_missing_from_a_learnt_vocabulary_are_still_refused(tmp_path: Path) -> None:
    # A byte-level vocabulary needs no merges; one with a longer token does.
    write_tokenizer_files(BPEVocabulary.from_merges(CLASSIC_MERGES), tmp_path)
    (tmp_path / "vocab.bpe").write_bytes(b"#version: 0.2\n")
    with pytest.raises(TokenizerError) as excinfo:
        Tokenizer.from_dir(tmp_path)
    one_line_error(excinfo, str(tmp_path), "no merges")
    (tmp_path / "vocab.bpe").write_bytes(b"#version: 0.2\na a\nq q\n")
    with pytest.raises(TokenizerError) as excinfo:
        Tokenizer.from_dir(tmp_path)
    one_line_error(excinfo, str(tmp_path), "merge 1", "not in the vocabulary")
