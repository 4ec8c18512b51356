"""`python -m potatogpt report TEXT --html FILE`: all six instruments on one page, with a table of contents."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from helpers import CHECKPOINTS, Exported, Parsed, assert_self_contained, one_error_line, run_cli, run_main
import potatogpt
from potatogpt import Tokenizer

SECTIONS = ["tokens", "trace", "attention", "lens", "score", "sample"]


@pytest.fixture(scope="module")
def references() -> dict[str, Any]:
    data = json.loads((CHECKPOINTS / "tiny-vocab" / "instruments.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def report(capsys: pytest.CaptureFixture[str], exported: Exported, page: Path, *argv: str) -> str:
    """The page `report ARGV --html PAGE` writes, after checking it said so and left nothing else."""
    status, out, err = run_main(capsys, "report", *argv, "--html", str(page),
                                "--weights", str(exported.folder("tiny-vocab")))
    assert (status, err) == (0, ""), err
    assert out.startswith(f"wrote the report to {page} (") and out.count("\n") == 1
    assert os.listdir(page.parent) == [page.name]
    return page.read_text(encoding="utf-8")


def sections_of(document: str) -> dict[str, Parsed]:
    """Each <section> of the report, parsed on its own (they follow one another, none inside another)."""
    parts = document.split("<section")[1:]
    assert all(part.count("</section>") == 1 for part in parts)
    parsed = [Parsed("<section" + part.split("</section>")[0] + "</section>") for part in parts]
    return {p.elements[0][1]["id"].removeprefix("section-"): p for p in parsed}


def test_the_report_holds_all_six_sections_and_their_numbers(capsys: pytest.CaptureFixture[str], exported: Exported,
                                                             tmp_path: Path, references: dict[str, Any]) -> None:
    ids = references["attention"]["ids"]
    text = Tokenizer.gpt2().decode(ids)  # (the text the references were computed for)
    document = report(capsys, exported, tmp_path / "handout.html", text, "--layer", "1", "--head", "1",
                      "--try", "T=0", "--try", "T=1,k=5", "--draws", "10")
    parsed = assert_self_contained(document)
    assert any("GPT-2 from the inside" in t for t in parsed.text)
    sections = sections_of(document)
    assert list(sections) == SECTIONS
    anchors = {attrs["id"] for _tag, attrs in parsed.elements if "id" in attrs}
    links = [attrs["href"] for tag, attrs in parsed.elements if tag == "a"]
    assert [link[1:] for link in links] == SECTIONS and set(SECTIONS) <= anchors  # the table of contents
    n = len(ids)
    assert [int(a["data-id"]) for a in sections["tokens"].having("data-id")] == ids
    assert f"Tensor[Seq, Embed] ({n}, 8)" in {a["data-shape"] for a in sections["trace"].having("data-shape")}
    cells = {(int(a["data-i"]), int(a["data-j"])): float(a["data-v"]) for a in sections["attention"].having("data-i")}
    assert set(cells) == {(i, j) for i in range(n) for j in range(i + 1)}  # layer 1, head 1 large
    for (i, j), weight in cells.items():
        assert weight == pytest.approx(references["attention"]["weights"][1][1][i][j], abs=1e-6)  # transformers'
    lens = {(a["data-stage"], int(a["data-pos"])): int(a["data-token"]) for a in sections["lens"].having("data-p")}
    assert len(lens) == 3 * n  # every stage at every position
    assert [lens[(stage, n - 1)] for stage in ("embed", "block 0", "block 1")] == [
        row["top_ids"][0] for row in references["lens"]["rows"]]
    model = potatogpt.load(exported.folder("tiny-vocab"))
    shown = [float(a["data-logp"]) for a in sections["score"].having("data-logp")]
    assert shown == model.score([model.tokenizer.eot_id, *ids])
    sample = sections["sample"]
    assert [a["data-setting"] for a in sample.having("data-setting")] == ["T=0", "T=1 k=5"]
    assert [int(a["data-candidates"]) for a in sample.having("data-candidates")] == [1, 5]


def test_the_report_runs_as_a_command(exported: Exported, tmp_path: Path) -> None:
    """Through `python -m potatogpt`, in a process of its own, with the default settings."""
    done = run_cli("report", "The cat sat on the mat", "--html", str(tmp_path / "r.html"),
                   "--weights", str(exported.folder("tiny-vocab")), cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    parsed = assert_self_contained((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert len(parsed.having("data-setting")) == 5  # the sample command's default settings
    assert len([a for t, a in parsed.elements if t == "section"]) == 6


def test_the_report_to_standard_output(capsys: pytest.CaptureFixture[str], exported: Exported) -> None:
    status, out, err = run_main(capsys, "report", "Hi there", "--html", "-", "--weights", str(exported.folder("tiny-vocab")))
    assert (status, err) == (0, "") and out.startswith("<!DOCTYPE html>")
    assert len([a for t, a in assert_self_contained(out).elements if t == "section"]) == 6


@pytest.mark.parametrize(("argv", "message"), [
    (["report", ""], "the text is empty"),
    (["report", "The cat", "--layer", "2"], "--layer 2: this model's layers are 0-1"),
    (["report", "The cat", "--layer", "0", "--head", "5"], "--head 5: this model's heads are 0-1"),
    (["report", " ".join(["word"] * 64)], "the text is 64 tokens and the decode step needs one more position"),
])
def test_bad_input_is_one_line_and_writes_nothing(capsys: pytest.CaptureFixture[str], exported: Exported,
                                                  tmp_path: Path, argv: list[str], message: str) -> None:
    status, out, err = run_main(capsys, *argv, "--html", str(tmp_path / "r.html"),
                                "--weights", str(exported.folder("tiny-vocab")))
    assert (status, out) == (1, "")
    one_error_line(err, message)
    assert os.listdir(tmp_path) == []


def test_the_report_needs_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_main(capsys, "report", "The cat")
    assert exit_info.value.code == 2
    assert "--html" in capsys.readouterr().err
