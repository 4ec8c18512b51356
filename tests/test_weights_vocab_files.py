"""Reading vocabulary files (weights/vocab_files.py): encoder.json + vocab.bpe or vocab.json +
merges.txt, any line end, the bundled copy's check, and every missing, broken or hostile file
refused in one line naming it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import BUNDLED, HELLO_WORLD, HOSTILE_JSON, NOT_FILES, POSIX, load_tokenizer_cases, never_waits, one_line_error, put_not_a_file
from potatogpt.tokenizer import Tokenizer, TokenizerError

CASES = load_tokenizer_cases()[0]


# --- Both pairs of names, any line end --------------------------------------------------------
def test_from_dir_openai_and_hugging_face_names(tmp_path: Path) -> None:
    openai, hf = tmp_path / "openai", tmp_path / "hf"
    openai.mkdir()
    hf.mkdir()
    shutil.copy(BUNDLED / "encoder.json", openai / "encoder.json")
    shutil.copy(BUNDLED / "vocab.bpe", openai / "vocab.bpe")
    shutil.copy(BUNDLED / "encoder.json", hf / "vocab.json")
    shutil.copy(BUNDLED / "vocab.bpe", hf / "merges.txt")
    for folder in (openai, hf):
        t = Tokenizer.from_dir(folder)
        for text, ids in CASES[:200]:
            assert t.encode(text) == ids, text


@pytest.mark.parametrize("line_end", [b"\r", b"\r\n", b"\n"])
def test_merges_with_any_line_end_read_the_same(tmp_path: Path, line_end: bytes) -> None:
    shutil.copy(BUNDLED / "encoder.json", tmp_path / "encoder.json")
    merges = (BUNDLED / "vocab.bpe").read_bytes()
    assert b"\r" not in merges
    (tmp_path / "vocab.bpe").write_bytes(merges.replace(b"\n", line_end))
    tokenizer = Tokenizer.from_dir(tmp_path)
    assert tokenizer.encode("Hello world") == HELLO_WORLD
    assert tokenizer.encode(" the quick brown fox") == [262, 2068, 7586, 21831]


# --- Missing and broken files -----------------------------------------------------------------
def one_line_value_error(excinfo: pytest.ExceptionInfo[TokenizerError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    assert isinstance(excinfo.value, ValueError)
    return message


def test_from_dir_without_files(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError) as excinfo:
        Tokenizer.from_dir(tmp_path)
    message = one_line_value_error(excinfo)
    assert str(tmp_path) in message and "encoder.json + vocab.bpe" in message and "vocab.json + merges.txt" in message
    with pytest.raises(TokenizerError, match="no such folder"):
        Tokenizer.from_dir(tmp_path / "nowhere")


def test_from_dir_with_one_file_missing(tmp_path: Path) -> None:
    shutil.copy(BUNDLED / "encoder.json", tmp_path / "encoder.json")
    with pytest.raises(TokenizerError) as excinfo:
        Tokenizer.from_dir(tmp_path)
    message = one_line_value_error(excinfo)
    assert f"{tmp_path / 'vocab.bpe'}: file is missing (encoder.json is there)" in message
    assert "copy vocab.bpe from the model's download" in message
    # A complete pair under the other names is used, though.
    shutil.copy(BUNDLED / "encoder.json", tmp_path / "vocab.json")
    shutil.copy(BUNDLED / "vocab.bpe", tmp_path / "merges.txt")
    assert Tokenizer.from_dir(tmp_path).encode("Hello world") == [15496, 995]


@pytest.mark.parametrize(("file", "content", "problem"), [
    ("encoder.json", b'{"a": 0,', "is not valid JSON"),
    ("encoder.json", b"\xff\xfe", "is not UTF-8"),
    ("encoder.json", b"[1, 2]", "expected a JSON object"),
    ("encoder.json", b'{"a": "zero"}', "is 'zero', not an integer"),
    ("encoder.json", b'{"a": 0, "b": 5}', "not exactly 0, 1, ..., N-1"),
    ("encoder.json", b'{"a": 0, "a b": 1}', "token 'a b' has characters that stand for no byte"),
    ("encoder.json", b'{"a": 0, "b": 1}', "254 of the 256 single-byte tokens are missing"),
    ("vocab.bpe", b"#version: 0.2\n\xc4\xa0 t\nbroken\n", "line 3 is 'broken', not two symbols"),
    ("vocab.bpe", b"#version: 0.2\n\xc4\xa0 t\nzz q\n", "merge 1 ('zz' + 'q') makes a token that is not in"),
])
def test_from_dir_with_corrupt_file(tmp_path: Path, file: str, content: bytes, problem: str) -> None:
    shutil.copy(BUNDLED / "encoder.json", tmp_path / "encoder.json")
    shutil.copy(BUNDLED / "vocab.bpe", tmp_path / "vocab.bpe")
    (tmp_path / file).write_bytes(content)
    with pytest.raises(TokenizerError) as excinfo:
        Tokenizer.from_dir(tmp_path)
    message = one_line_value_error(excinfo)
    assert problem in message and str(tmp_path) in message


def test_bundled_vocab_is_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(BUNDLED / "encoder.json", tmp_path / "encoder.json")
    monkeypatch.setattr("potatogpt.weights.vocab_files.DATA_DIR", tmp_path)
    with pytest.raises(TokenizerError) as excinfo:
        Tokenizer.gpt2()
    message = one_line_value_error(excinfo)
    assert f"{tmp_path / 'vocab.bpe'}: file is missing" in message and "reinstall potatogpt" in message

    merges = (BUNDLED / "vocab.bpe").read_bytes()
    (tmp_path / "vocab.bpe").write_bytes(merges.replace(b"\xc4\xa0 t\n", b"\xc4\xa0 a\n", 1))  # one edit
    with pytest.raises(TokenizerError) as excinfo:
        Tokenizer.gpt2()
    message = one_line_value_error(excinfo)
    assert f"{tmp_path / 'vocab.bpe'}: file is corrupt (sha256" in message and "reinstall potatogpt" in message


def test_a_merges_file_without_merges_is_refused(tmp_path: Path) -> None:
    shutil.copy(BUNDLED / "encoder.json", tmp_path / "encoder.json")
    (tmp_path / "vocab.bpe").write_bytes(b"#version: 0.2\n")
    with pytest.raises(TokenizerError) as excinfo:
        Tokenizer.from_dir(tmp_path)
    one_line_error(excinfo, str(tmp_path), "no merges")


# --- Hostile JSON -----------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(HOSTILE_JSON))
def test_hostile_json_in_encoder_json(tmp_path: Path, case: str) -> None:
    value, fragment = HOSTILE_JSON[case]
    (tmp_path / "encoder.json").write_text(f'{{"!": {value}}}')
    shutil.copy(BUNDLED / "vocab.bpe", tmp_path / "vocab.bpe")
    with pytest.raises(TokenizerError) as excinfo:
        Tokenizer.from_dir(tmp_path)
    one_line_error(excinfo, "encoder.json", fragment)


# --- Hostile: not a file at all ---------------------------------------------------------------------
@POSIX
@pytest.mark.parametrize("kind", NOT_FILES)
@pytest.mark.parametrize("name", ["encoder.json", "vocab.bpe"])
def test_a_vocabulary_file_that_is_not_a_file(tmp_path: Path, name: str, kind: str) -> None:
    shutil.copy(BUNDLED / "encoder.json", tmp_path / "encoder.json")
    shutil.copy(BUNDLED / "vocab.bpe", tmp_path / "vocab.bpe")
    put_not_a_file(tmp_path / name, kind)
    with never_waits(), pytest.raises(TokenizerError) as excinfo:
        Tokenizer.from_dir(tmp_path)
    message = one_line_value_error(excinfo)
    assert str(tmp_path / name) in message and "not a regular file" in message
