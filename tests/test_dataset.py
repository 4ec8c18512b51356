"""Training text: which files are read in which order, every bad input in one line, the split, the batches."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from helpers import one_line_error

from potatogpt.dataset import (
    Batches,
    Corpus,
    DataError,
    Document,
    default_corpus,
    encode_documents,
    prepare,
    read_corpus,
    read_text_file,
    text_files_in,
    train_val_split,
)
from potatogpt.learn_bpe import byte_level

BYTES = byte_level().tokenizer()  # id = byte value, <|endoftext|> = 256


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


# --- Which files ------------------------------------------------------------------------------
@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    for name in ["b.txt", "a/z.md", "a.txt", "c.PY", "sub/deeper/x.py", "sub/.secret.txt", ".hidden/h.txt",
                 "notes.json", "image.png"]:
        write(root / name, f"text of {name}\n")
    write(root / "sub" / "__init__.py", "")  # empty: skipped inside a folder
    return root


def test_a_folder_gives_its_text_files_sorted_by_path_hidden_ones_skipped(tree: Path) -> None:
    assert [p.relative_to(tree).as_posix() for p in text_files_in(tree)] == [
        "a/z.md", "a.txt", "b.txt", "c.PY", "sub/__init__.py", "sub/deeper/x.py"]  # 'a' < 'a.txt'
    corpus = read_corpus([tree])
    assert [Path(d.name).relative_to(tree).as_posix() for d in corpus.documents] == [
        "a/z.md", "a.txt", "b.txt", "c.PY", "sub/deeper/x.py"]
    assert corpus.documents[0].text == "text of a/z.md\n"
    assert corpus.description == f"{tree / 'a' / 'z.md'} and 4 more files"


def test_arguments_keep_their_order_and_a_file_is_read_once(tree: Path) -> None:
    other = write(tree.parent / "first.csv", "any name works when named")
    (tree / "link.txt").symlink_to(tree / "b.txt")
    corpus = read_corpus([other, tree, tree / "b.txt"])
    names = [d.name for d in corpus.documents]
    assert names[0] == str(other)
    assert names.count(str(tree / "b.txt")) == 1 and str(tree / "link.txt") not in names
    assert len(names) == 6


def test_symlink_loops_and_dangling_links_are_passed_over(tree: Path) -> None:
    (tree / "sub" / "loop").symlink_to(tree)
    (tree / "self.txt").symlink_to(tree / "self.txt")
    (tree / "gone.md").symlink_to(tree / "nowhere.md")
    corpus = read_corpus([tree])
    assert len(corpus.documents) == 5


def test_the_default_text_is_pydoc_topics_sorted_by_name() -> None:
    corpus = read_corpus([])
    names = [d.name for d in corpus.documents]
    assert names[:2] == ["pydoc_data.topics['assert']", "pydoc_data.topics['assignment']"]
    assert names == sorted(names) and len(names) > 50
    by_name = {d.name: d.text for d in corpus.documents}
    assert by_name["pydoc_data.topics['if']"].startswith('The "if" statement')
    assert sum(len(d.text) for d in corpus.documents) > 400_000
    assert "pydoc_data.topics" in corpus.description
    assert default_corpus() == corpus


# --- Bad input: one line each, naming the file ------------------------------------------------
@pytest.mark.parametrize("data, fragments", [
    (b"hello \xff world", ["not UTF-8", "0xff at byte offset 6"]),
    (b"\xef\xbb\xbfab\xe9t\xe9", ["not UTF-8", "0xe9 at byte offset 5"]),  # Latin-1 'ét', after a BOM
    (b"\x89PNG\r\n\x1a\n\x00\x00", ["not UTF-8", "0x89 at byte offset 0"]),
    (b"PK\x03\x04\x00\x00\xff", ["binary", "NUL byte at byte offset 4"]),
    (b"ok\x00\xff", ["binary", "NUL byte at byte offset 2"]),
])
def test_binary_and_non_utf8_files_say_where(tmp_path: Path, data: bytes, fragments: list[str]) -> None:
    path = write(tmp_path / "bad.txt", data)
    for paths in ([path], [tmp_path]):  # named, or found in a folder
        with pytest.raises(DataError) as excinfo:
            read_corpus(paths)
        one_line_error(excinfo, str(path), *fragments)


def test_a_leading_bom_is_not_text(tmp_path: Path) -> None:
    assert read_text_file(write(tmp_path / "bom.txt", b"\xef\xbb\xbfhi")) == "hi"


@pytest.mark.parametrize("data", [b"", b" \n\t\n"])
def test_an_empty_file_is_refused(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path / "empty.txt", data)
    with pytest.raises(DataError) as excinfo:
        read_corpus([path])
    one_line_error(excinfo, str(path), "empty")


def test_a_folder_of_empty_files_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "__init__.py", "")
    write(tmp_path / "b.txt", "\n")
    with pytest.raises(DataError) as excinfo:
        read_corpus([tmp_path])
    one_line_error(excinfo, str(tmp_path), "2 text files are all empty")


def test_a_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError) as excinfo:
        read_corpus([tmp_path / "typo.txt"])
    one_line_error(excinfo, str(tmp_path / "typo.txt"), "no such file or folder")


def test_a_folder_without_text_files_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "data.json", "{}")
    write(tmp_path / ".git" / "notes.txt", "hidden")
    with pytest.raises(DataError) as excinfo:
        read_corpus([tmp_path])
    one_line_error(excinfo, str(tmp_path), "no .txt, .md or .py files")


def test_a_pipe_is_refused_without_reading_it(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    with pytest.raises(DataError) as excinfo:
        read_corpus([tmp_path / "pipe.txt"])
    one_line_error(excinfo, "pipe.txt", "not a regular file")
    write(tmp_path / "real.txt", "x")
    assert [d.name for d in read_corpus([tmp_path]).documents] == [str(tmp_path / "real.txt")]


def test_a_symlink_loop_named_directly_is_refused(tmp_path: Path) -> None:
    (tmp_path / "loop.txt").symlink_to(tmp_path / "loop.txt")
    with pytest.raises(DataError) as excinfo:
        read_corpus([tmp_path / "loop.txt"])
    one_line_error(excinfo, "loop.txt")


# --- Token ids and the split ------------------------------------------------------------------
def test_each_document_ends_with_endoftext() -> None:
    documents = [Document("a", "hi"), Document("b", "é")]
    assert encode_documents(documents, BYTES) == [104, 105, 256, 0xC3, 0xA9, 256]


@pytest.mark.parametrize("n, n_train", [(25, 22), (10, 9), (9, 8), (1, 0), (0, 0)])
def test_train_is_the_first_90_percent(n: int, n_train: int) -> None:
    ids = list(range(100, 100 + n))
    train, val = train_val_split(ids)
    assert train == ids[:n_train] and val == ids[n_train:]


def corpus_of(text: str) -> Corpus:
    return Corpus([Document("story.txt", text)], "story.txt")


def test_prepare_splits_the_ids() -> None:
    dataset = prepare(corpus_of("a" * 99), BYTES, 9)  # 99 bytes + <|endoftext|>: 100 ids, 90 + 10
    assert dataset.train == [97] * 90 and dataset.val == [97] * 9 + [256]


@pytest.mark.parametrize("block_size, fragments", [
    (11, ["story.txt", "validation split", "has 11 tokens", "block_size+1 = 12"]),
    (100, ["story.txt", "training split", "has 90 tokens", "block_size+1 = 101"]),
])
def test_a_block_longer_than_a_split_is_refused(block_size: int, fragments: list[str]) -> None:
    corpus = corpus_of("a" * 100)  # 101 ids: 90 to train on, 11 held out
    assert len(prepare(corpus, BYTES, 10).val) == 11
    with pytest.raises(DataError) as excinfo:
        prepare(corpus, BYTES, block_size)
    one_line_error(excinfo, *fragments)


# --- Batches ----------------------------------------------------------------------------------
IDS = list(range(1000, 1020))  # 20 ids: with block_size 4, rows start at 0..15


def test_rows_are_consecutive_ids_from_the_seeded_random() -> None:
    batch = Batches(IDS, 4, seed=1337).next_batch(3)
    rng = random.Random(1337)
    starts = [rng.randrange(16) for _ in range(3)]
    assert batch == [IDS[s:s + 5] for s in starts]
    assert all(len(row) == 5 for row in batch)


def test_every_start_is_drawn_the_last_one_too() -> None:
    batches = Batches(IDS, 4, seed=0)
    starts = {row[0] - 1000 for _ in range(100) for row in batches.next_batch(8)}
    assert starts == set(range(16))
    assert {row[0] - 1000 for row in Batches(IDS, 19, seed=0).next_batch(5)} == {0}  # one row fits


def test_a_restored_state_continues_exactly() -> None:
    uninterrupted = Batches(IDS, 4, seed=7)
    for _ in range(3):
        uninterrupted.next_batch(2)
    saved = json.loads(json.dumps(uninterrupted.state()))  # as a checkpoint stores it
    expected = [uninterrupted.next_batch(2) for _ in range(4)]
    resumed = Batches(IDS, 4, seed=99)
    resumed.restore(saved)
    assert [resumed.next_batch(2) for _ in range(4)] == expected


GOOD_STATE = Batches(IDS, 4, seed=7).state()
WORDS = GOOD_STATE["internal"]
assert isinstance(WORDS, list)


@pytest.mark.parametrize("state", [
    "not a state",
    {**GOOD_STATE, "internal": WORDS[:-1]},
    {**GOOD_STATE, "internal": ["x"] * 625},
    {**GOOD_STATE, "internal": [2 ** 40] * 625},
    {**GOOD_STATE, "gauss_next": "0.5"},
    {k: v for k, v in GOOD_STATE.items() if k != "version"},
])
def test_a_damaged_state_is_refused(state: object) -> None:
    batches = Batches(IDS, 4, seed=7)
    with pytest.raises(DataError) as excinfo:
        batches.restore(state)
    one_line_error(excinfo, "batch state")


def test_too_few_ids_for_a_row_is_refused() -> None:
    with pytest.raises(DataError) as excinfo:
        Batches(IDS, 20, seed=0, what="notes.txt: the validation split")
    one_line_error(excinfo, "notes.txt: the validation split has 20 tokens", "block_size+1 = 21")
