"""Unbounded work refused or made near-linear: absurd hyper-parameters, very long words.

The time limits here are hang guards (a run that used to take minutes or forever), not timings.
"""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
import sys
from pathlib import Path

import pytest
from test_safetensors import one_line_error
from test_tokenizer import load_fixture

from potatogpt.config import MODEL_SIZES
from potatogpt.convert.export import ExportError, convert
from potatogpt.fast.bpe import fast_bpe
from potatogpt.tokenizer import BYTE_TO_UNICODE, Tokenizer, bpe, pre_tokenize
from potatogpt.weights.catalogue import WeightsError, parameter_count, tensor_count
from potatogpt.weights.checkpoint import open_checkpoint

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "checkpoints"
HUGE = 2**31 - 1


def in_a_subprocess(code: str, *args: str, timeout: float = 60) -> str:
    """Run `code` with a hang guard; its stdout."""
    result = subprocess.run([sys.executable, "-c", code, *args], env={**os.environ, "PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout


# --- Hyper-parameters -------------------------------------------------------------------------
def test_counts_without_listing() -> None:
    assert parameter_count(MODEL_SIZES["124M"]) == 124_439_808  # GPT-2 small, as published
    assert tensor_count(MODEL_SIZES["124M"]) == 148
    assert parameter_count(MODEL_SIZES["1558M"]) == 1_557_611_200


OPEN = """
import sys
from potatogpt.weights.catalogue import WeightsError
from potatogpt.weights.checkpoint import open_checkpoint
try:
    open_checkpoint(sys.argv[1])
except WeightsError as e:
    print(e)
"""


@pytest.mark.parametrize("key", ["n_layer", "n_embd", "vocab_size", "n_ctx"])
def test_a_manifest_claiming_absurd_sizes_is_refused_at_once(tmp_path: Path, key: str) -> None:
    folder = convert(FIXTURES / "tiny", tmp_path / "tiny")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["config"][key] = HUGE if key != "n_embd" else 2**30
    (folder / "manifest.json").write_text(json.dumps(manifest))
    message = in_a_subprocess(OPEN, str(folder)).strip()
    assert message.startswith(str(folder / "manifest.json")) and "\n" not in message, message


CONVERT = """
import sys
from potatogpt.convert.export import ExportError, convert
try:
    convert(sys.argv[1], sys.argv[2])
except ExportError as e:
    print(e)
"""


@pytest.mark.parametrize("key", ["n_layer", "n_embd", "vocab_size", "n_positions"])
def test_a_config_json_claiming_absurd_sizes_is_refused_at_once(tmp_path: Path, key: str) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "model.safetensors").symlink_to(FIXTURES / "tiny" / "model.safetensors")
    config = json.loads((FIXTURES / "tiny" / "config.json").read_text())
    config[key] = HUGE if key != "n_embd" else 2**30
    config["n_head"] = 1
    (source / "config.json").write_text(json.dumps(config))
    message = in_a_subprocess(CONVERT, str(source), str(tmp_path / "out")).strip()
    assert "model.safetensors" in message and "another model" in message and "\n" not in message, message
    assert not (tmp_path / "out").exists()


def test_a_small_gap_is_still_named_precisely(tmp_path: Path) -> None:
    folder = convert(FIXTURES / "tiny", tmp_path / "tiny")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["tensors"] = [t for t in manifest["tensors"] if t["name"] != "h.1.ln_2.bias"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WeightsError) as excinfo:
        open_checkpoint(folder)
    one_line_error(excinfo, "'h.1.ln_2.bias'", "missing")


def test_config_json_must_describe_the_file(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "model.safetensors").symlink_to(FIXTURES / "tiny" / "model.safetensors")
    config = json.loads((FIXTURES / "tiny" / "config.json").read_text())
    (source / "config.json").write_text(json.dumps({**config, "n_layer": 50}))
    with pytest.raises(ExportError) as excinfo:
        convert(source, tmp_path / "out")
    one_line_error(excinfo, "n_layer=50", "another model")


# --- BPE on long words ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gpt2() -> Tokenizer:
    return Tokenizer.gpt2()


def as_symbols(text: str) -> str:
    return "".join(BYTE_TO_UNICODE[b] for b in text.encode("utf-8", "replace"))


def test_fast_bpe_matches_bpe_on_every_fixture_word(gpt2: Tokenizer) -> None:
    encode_cases, _, _ = load_fixture()
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
