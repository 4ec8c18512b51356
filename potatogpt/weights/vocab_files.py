"""The vocabulary files: reading and checking encoder.json + vocab.bpe (or vocab.json + merges.txt).

tokenizer.py turns the parsed vocabulary into a tokenizer; this module only gets the bytes off
the disk and into Python objects, refusing anything malformed in one line (a VocabFileError
naming the file, which the Tokenizer's constructors pass on as a TokenizerError).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .regular_files import irregular, read_bytes
from .safe_json import JSONProblem, parse_json


class VocabFileError(ValueError):
    """A vocabulary file that cannot be used; the message is one line naming it."""

DATA_DIR = Path(__file__).parent.parent / "data"  # potatogpt/data/, the bundled GPT-2 vocabulary
# Pairs of file names a weights folder may hold: OpenAI's, then Hugging Face's.
VOCAB_FILE_NAMES: tuple[tuple[str, str], ...] = (("encoder.json", "vocab.bpe"), ("vocab.json", "merges.txt"))
# The bundled files are OpenAI's originals; these are their published sha256 sums.
GPT2_SHA256 = {
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
}
REINSTALL = "reinstall potatogpt (or restore the file with `git checkout`)"
REDOWNLOAD = "replace it with the file from the model's download"


def read_file(path: Path, fix: str) -> bytes:
    try:
        return read_bytes(path)
    except FileNotFoundError:
        raise VocabFileError(f"{path}: file is missing; {fix}") from None
    except OSError as e:
        raise VocabFileError(f"{path}: cannot read it ({e.strerror}); {fix}") from None


def check_sha256(path: Path, data: bytes, expected: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise VocabFileError(f"{path}: file is corrupt (sha256 {actual[:12]}..., expected {expected[:12]}...); "
                             f"{REINSTALL}")


def parse_encoder(path: Path, data: bytes) -> dict[str, int]:
    """encoder.json / vocab.json: one JSON object, token text -> id."""
    try:
        loaded = parse_json(data)
    except JSONProblem as e:
        raise VocabFileError(f"{path}: file is {e}; {REDOWNLOAD}") from None
    if not isinstance(loaded, dict):
        raise VocabFileError(f"{path}: expected a JSON object of token -> id, found {type(loaded).__name__}; {REDOWNLOAD}")
    encoder: dict[str, int] = {}
    for token, token_id in loaded.items():
        # JSON keys are always strings; a bool is an int to Python, but not an id.
        if not isinstance(token_id, int) or isinstance(token_id, bool):
            raise VocabFileError(f"{path}: the id of token {token!r} is {token_id!r}, not an integer; {REDOWNLOAD}")
        encoder[token] = token_id
    return encoder


def parse_merges(path: Path, data: bytes) -> list[tuple[str, str]]:
    """vocab.bpe / merges.txt: a '#version' line, then one merge per line, 'Ġ t' (two symbols)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise VocabFileError(f"{path}: file is not UTF-8 text; {REDOWNLOAD}") from None
    merges: list[tuple[str, str]] = []
    # splitlines knows every line end: Unix '\n', Windows '\r\n', old Mac '\r'.  None of the
    # characters it splits on is ever a byte symbol (see bytes_to_unicode), so no merge is cut.
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line or (line_number == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not all(parts):
            raise VocabFileError(f"{path}: line {line_number} is {line[:40]!r}, not two symbols "
                                 f"separated by a space; {REDOWNLOAD}")
        merges.append((parts[0], parts[1]))
    return merges


Vocabulary = tuple[dict[str, int], list[tuple[str, str]]]  # token text -> id, and the merges in rank order


def parse_vocabulary(encoder_path: Path, encoder_bytes: bytes, merges_path: Path, merges_bytes: bytes) -> Vocabulary:
    """The two files' bytes, already read (and checked) by the caller; the paths are for messages."""
    return parse_encoder(encoder_path, encoder_bytes), parse_merges(merges_path, merges_bytes)


def read_bundled() -> Vocabulary:
    """GPT-2's own vocabulary, bundled with potatogpt, checked against OpenAI's sha256 sums."""
    encoder_path, merges_path = DATA_DIR / "encoder.json", DATA_DIR / "vocab.bpe"
    encoder_bytes, merges_bytes = read_file(encoder_path, REINSTALL), read_file(merges_path, REINSTALL)
    check_sha256(encoder_path, encoder_bytes, GPT2_SHA256["encoder.json"])
    check_sha256(merges_path, merges_bytes, GPT2_SHA256["vocab.bpe"])
    return parse_vocabulary(encoder_path, encoder_bytes, merges_path, merges_bytes)


def read_folder(path: str | os.PathLike[str]) -> Vocabulary:
    """The vocabulary stored in a weights folder: OpenAI's encoder.json + vocab.bpe, or
    Hugging Face's vocab.json + merges.txt (the same data under other names)."""
    folder = Path(path)
    pairs = [(folder / encoder_name, folder / merges_name) for encoder_name, merges_name in VOCAB_FILE_NAMES]
    for path in (path for pair in pairs for path in pair):
        what = irregular(path)
        if what is not None:
            raise VocabFileError(f"{path}: is {what}, not a regular file; {REDOWNLOAD}")
    for encoder_path, merges_path in pairs:
        if encoder_path.is_file() and merges_path.is_file():
            return parse_vocabulary(encoder_path, read_file(encoder_path, REDOWNLOAD),
                                    merges_path, read_file(merges_path, REDOWNLOAD))
    # No complete pair: say what is missing as precisely as we can.
    for encoder_path, merges_path in pairs:
        if encoder_path.exists() or merges_path.exists():
            present, absent = (encoder_path, merges_path) if encoder_path.exists() else (merges_path, encoder_path)
            raise VocabFileError(f"{absent}: file is missing ({present.name} is there); copy "
                                 f"{absent.name} from the model's download into {folder}")
    if not folder.is_dir():
        raise VocabFileError(f"{folder}: no such folder; pass the folder holding the model's tokenizer files")
    names = " or ".join(f"{a} + {b}" for a, b in VOCAB_FILE_NAMES)
    raise VocabFileError(f"{folder}: no tokenizer files (looked for {names}); "
                         "copy them from the model's download, or use Tokenizer.gpt2()")
