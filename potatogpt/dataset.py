"""Training text: files and folders -> documents -> token ids -> train/validation -> random batches.

    read_corpus(["notes.txt", "book/"])    the documents, in a fixed order
      encode_documents                     token ids, <|endoftext|> after each document (as GPT-2 was trained)
      train_val_split                      the first 90% of the ids to learn from, the last 10% held out
      Batches(...).next_batch(B)           B rows of block_size+1 consecutive ids: row[:-1] in, row[1:] targets

**Which files.** A file named on the command line is read whatever its name.  A folder gives its
`.txt`, `.md` and `.py` files, recursively, sorted by their path inside the folder; hidden files
and folders (names starting with '.') are skipped, empty files in a folder too (a package's empty
`__init__.py`), and a folder reached twice through symbolic links (a loop) is read once.  A file
reached twice, under two names, is read once.

**The default text**, when no file is given, is `pydoc_data.topics`: the Python Language
Reference's sections as `help("if")` shows them, one document per topic (79 of them, sorted by
name), about 460 KB on Python 3.10 to 510 KB on 3.13.  It is part of the standard library on
every supported Python (Debian's python3 included: it is in libpython3.x-stdlib, which python3
itself needs), it is data rather than docstrings, so `python -OO` keeps it, and it is importable
where only compiled .pyc files are installed.  So `train` works on a fresh clone with no network.

**Bad input** is a `DataError`, a one-line message naming the file and what to do: a missing
path, an empty file, a binary or non-UTF-8 file (with the byte offset), a folder without text
files, a block size longer than the training or validation split.

**Batches** come from a `random.Random` of their own, seeded; its state can be saved and
restored, so a resumed run draws exactly the batches an uninterrupted run would have drawn.
"""

from __future__ import annotations

import codecs
import importlib
import os
import random
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .tokenizer import Tokenizer
from .weights import regular_files

__all__ = [
    "DEFAULT_CORPUS",
    "TEXT_SUFFIXES",
    "Batches",
    "Corpus",
    "DataError",
    "Dataset",
    "Document",
    "default_corpus",
    "encode_documents",
    "prepare",
    "read_corpus",
    "read_text_file",
    "text_files_in",
    "train_val_split",
]

TEXT_SUFFIXES = (".md", ".py", ".txt")  # what a folder contributes
DEFAULT_CORPUS = "pydoc_data.topics"
TRAIN_TENTHS = 9  # train on the first 9/10 of the ids, validate on the last 1/10


class DataError(ValueError):
    """Training text that cannot be used; the message is one line: which file, what is wrong, what to do."""


@dataclass(frozen=True)
class Document:
    name: str  # a path, or "pydoc_data.topics['if']"
    text: str


@dataclass(frozen=True)
class Corpus:
    documents: list[Document]
    description: str  # for messages: 'notes.txt', 'notes.txt and 12 more files', ...

    @property
    def texts(self) -> list[str]:
        return [document.text for document in self.documents]


# --- Reading ----------------------------------------------------------------------------------
def read_text_file(path: Path) -> str:
    """A file's text, or a DataError saying why it is not UTF-8 text (a leading BOM is dropped)."""
    try:
        data = regular_files.read_bytes(path)  # (a pipe or a device is refused, never waited on)
    except regular_files.NotARegularFile as e:
        raise DataError(f"{path}: {e.strerror}; pass UTF-8 text files") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror}); check the path and its permissions") from None
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[start:].decode("utf-8")
        bad = -1
    except UnicodeDecodeError as e:
        text, bad = "", start + e.start
    nul = data.find(b"\0")  # valid UTF-8, but no text file holds one: a binary file
    if nul >= 0 and (bad < 0 or nul < bad):
        raise DataError(f"{path}: a binary file, not text (a NUL byte at byte offset {nul}); pass UTF-8 text files")
    if bad >= 0:
        raise DataError(f"{path}: not UTF-8 text (byte 0x{data[bad]:02x} at byte offset {bad}); "
                        "pass UTF-8 text files, or convert this one (e.g. iconv -t utf-8)")
    return text


def text_files_in(folder: Path) -> list[Path]:
    """The folder's .txt/.md/.py files, recursively, sorted by their path inside it; hidden names
    skipped; a folder already visited (a symbolic-link loop) not entered again."""
    found: list[Path] = []
    visited: set[tuple[int, int]] = set()
    pending = [folder]
    while pending:
        directory = pending.pop()
        try:
            info = os.stat(directory)
            if (info.st_dev, info.st_ino) in visited:
                continue
            visited.add((info.st_dev, info.st_ino))
            entries = list(os.scandir(directory))
        except OSError as e:
            raise DataError(f"{directory}: cannot read this folder ({e.strerror}); check its permissions") from None
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    pending.append(Path(entry.path))
                elif entry.is_file() and entry.name.lower().endswith(TEXT_SUFFIXES):
                    found.append(Path(entry.path))
            except OSError:  # a link to nowhere, or to itself: nothing to read
                continue
    return sorted(found, key=lambda path: path.relative_to(folder).parts)


def read_corpus(paths: Sequence[str | os.PathLike[str]]) -> Corpus:
    """The documents in `paths` (files and folders, in the order given), or the default text if none."""
    if not paths:
        return default_corpus()
    documents: list[Document] = []
    seen: set[str] = set()

    def add(path: Path, text: str) -> None:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            documents.append(Document(str(path), text))

    for arg in paths:
        path = Path(arg)
        try:
            info = os.stat(path)
        except FileNotFoundError:
            raise DataError(f"{path}: no such file or folder; pass UTF-8 text files or folders of them") from None
        except OSError as e:
            raise DataError(f"{path}: cannot read it ({e.strerror}); check the path") from None
        if stat.S_ISDIR(info.st_mode):
            files = text_files_in(path)
            if not files:
                raise DataError(f"{path}: no .txt, .md or .py files in this folder (hidden ones are skipped); "
                                "pass a folder that holds some, or the files themselves")
            texts = [(file, read_text_file(file)) for file in files]
            if not any(text.strip() for _, text in texts):
                raise DataError(f"{path}: its {len(files)} text files are all empty; pass files with text in them")
            for file, text in texts:
                if text.strip():
                    add(file, text)
        elif stat.S_ISREG(info.st_mode):
            text = read_text_file(path)
            if not text.strip():
                raise DataError(f"{path}: the file is empty (nothing but white space); pass a file with text in it")
            add(path, text)
        else:  # a pipe or a device: reading it could block forever
            raise DataError(f"{path}: not a regular file or folder; pass UTF-8 text files or folders of them")
    return Corpus(documents, _describe([document.name for document in documents]))


def _describe(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    return f"{names[0]} and {len(names) - 1} more files"


def default_corpus() -> Corpus:
    """pydoc_data.topics, one document per topic, sorted by topic name (see the module docstring)."""
    try:
        module = importlib.import_module(DEFAULT_CORPUS)
    except ImportError:
        raise DataError(f"this Python has no {DEFAULT_CORPUS}, the default training text; "
                        "pass text files or folders to train on") from None
    topics: object = getattr(module, "topics", None)
    if not isinstance(topics, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in topics.items()):
        raise DataError(f"{module.__file__}: {DEFAULT_CORPUS}.topics is not a dict of texts; "
                        "pass text files or folders to train on")
    documents = [Document(f"{DEFAULT_CORPUS}[{name!r}]", str(topics[name])) for name in sorted(topics)]
    return Corpus(documents, f"{DEFAULT_CORPUS} (the default text: the Python reference as help() shows it)")


# --- Token ids --------------------------------------------------------------------------------
def encode_documents(documents: Sequence[Document], tokenizer: Tokenizer) -> list[int]:
    """All documents as one stream of ids, each followed by <|endoftext|>, which teaches the model
    where a document ends (as in GPT-2's training data)."""
    ids: list[int] = []
    for document in documents:
        ids.extend(tokenizer.encode(document.text))
        ids.append(tokenizer.eot_id)
    return ids


def train_val_split(ids: Sequence[int]) -> tuple[list[int], list[int]]:
    """The first 90% of the ids (rounded down) for training, the last 10% held out: 25 ids -> 22 + 3."""
    n_train = len(ids) * TRAIN_TENTHS // 10
    return list(ids[:n_train]), list(ids[n_train:])


@dataclass(frozen=True)
class Dataset:
    train: list[int]
    val: list[int]
    source: str  # the corpus's description, for messages


def prepare(corpus: Corpus, tokenizer: Tokenizer, block_size: int) -> Dataset:
    """The corpus tokenized and split, after checking that both splits hold a block of
    block_size+1 ids (so that a bad size fails before anything is trained or written)."""
    train, val = train_val_split(encode_documents(corpus.documents, tokenizer))
    check_long_enough(train, block_size, f"{corpus.description}: the training split (the first 90%)")
    check_long_enough(val, block_size, f"{corpus.description}: the validation split (the last 10%)")
    return Dataset(train, val, corpus.description)


def check_long_enough(ids: Sequence[int], block_size: int, what: str) -> None:
    """A DataError unless `ids` hold at least one row of block_size+1; `what` names them in the message."""
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, not {block_size}")
    if len(ids) < block_size + 1:
        raise DataError(f"{what} has {len(ids)} tokens, fewer than one row of block_size+1 = {block_size + 1}; "
                        "pass more text or a smaller block size")


# --- Batches ----------------------------------------------------------------------------------
class Batches:
    """Random rows of block_size+1 consecutive ids from one split, from a seeded random.Random.

    Every start position 0 .. len(ids)-block_size-1 is equally likely (nanoGPT's get_batch).
    `state()` is JSON-ready; `restore(state)` continues exactly where that state was taken.
    """

    def __init__(self, ids: Sequence[int], block_size: int, *, seed: int, what: str = "the text") -> None:
        check_long_enough(ids, block_size, what)
        self.ids = ids
        self.block_size = block_size
        self._rng = random.Random(seed)

    def next_batch(self, batch_size: int) -> list[list[int]]:
        """batch_size rows of block_size+1 ids: row[:-1] are the inputs, row[1:] the targets."""
        starts = [self._rng.randrange(len(self.ids) - self.block_size) for _ in range(batch_size)]
        return [list(self.ids[start : start + self.block_size + 1]) for start in starts]

    def state(self) -> dict[str, object]:
        """The random generator's state as JSON-ready values (random.Random.getstate's three parts)."""
        version, internal, gauss_next = self._rng.getstate()
        return {"version": int(version), "internal": [int(word) for word in internal],
                "gauss_next": None if gauss_next is None else float(gauss_next)}

    def restore(self, state: object) -> None:
        """Continue from a state() taken earlier; a DataError if it is not one."""
        if not isinstance(state, dict) or set(state) != {"version", "internal", "gauss_next"}:
            raise DataError("the saved batch state is not one: expected version, internal and gauss_next")
        version, internal, gauss_next = state["version"], state["internal"], state["gauss_next"]
        if (not isinstance(version, int) or not isinstance(internal, list)
                or not all(isinstance(word, int) and not isinstance(word, bool) for word in internal)
                or not (gauss_next is None or isinstance(gauss_next, float))):
            raise DataError("the saved batch state is damaged: its values have the wrong types")
        try:
            self._rng.setstate((version, tuple(internal), gauss_next))
        except (ValueError, TypeError, OverflowError) as e:
            raise DataError(f"the saved batch state is damaged ({e})") from None
