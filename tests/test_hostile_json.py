"""JSON that parses (or nearly) but would crash a naive reader: refused in one line by every reader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_safetensors import GOOD_ENTRY, one_line_error, write_raw_header

from potatogpt.convert.export import ExportError, convert
from potatogpt.convert.hf_checkpoint import read_hf_config
from potatogpt.convert.safetensors import SafetensorsError, SafetensorsFile
from potatogpt.weights.safe_json import JSONProblem, parse_json
from potatogpt.tokenizer import Tokenizer, TokenizerError
from potatogpt.weights.vocab_files import DATA_DIR
from potatogpt.weights.catalogue import WeightsError
from potatogpt.weights.checkpoint import open_checkpoint

FIXTURES = Path(__file__).resolve().parent.parent / "checkpoints"

# Each one, pasted where a value belongs, used to escape json.loads as something other than
# a JSONDecodeError (or to come back as infinity).
HOSTILE = {
    "deep nesting": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "a 5000-digit integer": ("1" * 5000, "5000 digits"),
    "1e400": ("1e400", "too large"),
    "-1e400": ("-1e400", "too large"),
    "NaN": ("NaN", "NaN is not a JSON number"),
    "Infinity": ("Infinity", "Infinity is not a JSON number"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_parse_json_names_the_problem(case: str) -> None:
    value, fragment = HOSTILE[case]
    with pytest.raises(JSONProblem) as excinfo:
        parse_json(f'{{"a": {value}}}')
    one_line_error(excinfo, fragment)


def test_parse_json_still_reads_ordinary_json() -> None:
    assert parse_json(b'{"a": [1, 2.5, -3e-5, "x", true, null]}') == {"a": [1, 2.5, -3e-5, "x", True, None]}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_manifest(tmp_path: Path, case: str) -> None:
    folder = convert(FIXTURES / "tiny", tmp_path / "tiny")
    text = (folder / "manifest.json").read_text()
    value, fragment = HOSTILE[case]
    (folder / "manifest.json").write_text(text.replace('"n_layer": 2', f'"n_layer": {value}'))
    with pytest.raises(WeightsError) as excinfo:
        open_checkpoint(folder)
    one_line_error(excinfo, "manifest.json", fragment)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_vocabulary(tmp_path: Path, case: str) -> None:
    value, fragment = HOSTILE[case]
    (tmp_path / "encoder.json").write_text(f'{{"!": {value}}}')
    shutil.copy(DATA_DIR / "vocab.bpe", tmp_path / "vocab.bpe")
    with pytest.raises(TokenizerError) as excinfo:
        Tokenizer.from_dir(tmp_path)
    one_line_error(excinfo, "encoder.json", fragment)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_safetensors_header(tmp_path: Path, case: str) -> None:
    value, fragment = HOSTILE[case]
    header = json.dumps({"x": GOOD_ENTRY}).replace('"shape": [2]', f'"shape": [{value}]')
    write_raw_header(tmp_path / "m.safetensors", header.encode(), bytes(8))
    with pytest.raises(SafetensorsError) as excinfo:
        SafetensorsFile(tmp_path / "m.safetensors")
    one_line_error(excinfo, "m.safetensors", fragment)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_config_json(tmp_path: Path, case: str) -> None:
    value, fragment = HOSTILE[case]
    text = (FIXTURES / "tiny" / "config.json").read_text()
    config = json.loads(text)
    key = "layer_norm_epsilon" if "layer_norm_epsilon" in config else "n_embd"
    (tmp_path / "config.json").write_text(json.dumps({**config, key: "HOSTILE"}).replace('"HOSTILE"', value))
    with pytest.raises(ExportError) as excinfo:
        read_hf_config(tmp_path / "config.json")
    one_line_error(excinfo, "config.json", fragment)

