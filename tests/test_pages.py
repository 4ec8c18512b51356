"""The instruments' pages (potatogpt/pages/): self-contained, escaped, and showing instruments.py's numbers."""

from __future__ import annotations

import ast
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import CHECKPOINTS, Exported, Parsed, assert_self_contained
import potatogpt
from potatogpt import instruments, pages
from potatogpt.api import GPT2
from potatogpt.instruments import Setting
from potatogpt.pages import PageWriteError, write_page
from potatogpt.pages.blocks import SCALE, shade, token_text
from potatogpt.sampling import softmax, top_k_candidates
from potatogpt.tensor import from_rows

# Token text is hostile input: markup, quotes, a control character, a direction override, and an
# emoji whose bytes BPE splits into tokens that are not whole characters.
HOSTILE = "<script>alert(\"x\")</script> it's \x07 \u202eevil 🤗 & co"
PAGES = Path(pages.__file__).resolve().parent


@pytest.fixture(scope="module")
def model(exported: Exported) -> GPT2:
    return potatogpt.load(exported.folder("tiny-vocab"))


@pytest.fixture(scope="module")
def references() -> dict[str, Any]:
    data = json.loads((CHECKPOINTS / "tiny-vocab" / "instruments.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


SETTINGS = [Setting(1.0), Setting(0.5), Setting(1.0, top_k=10), Setting(1.0, top_p=0.5), Setting(0.0)]


def sections(model: GPT2, text: str) -> Iterator[pages.Section]:
    ids = model.tokenizer.encode(text)
    yield instruments.explain_tokens(model.tokenizer, text).section()
    yield instruments.trace(model, ids).section()
    yield instruments.attention_patterns(model, ids).section(layer=1, head=1)
    yield instruments.lens_grid(model, ids).section()
    yield instruments.logit_lens(model, ids).section()
    yield instruments.score(model, text).section()
    yield instruments.sampling_lab(model.next_token_logits(ids), SETTINGS, 50, 3, tokenizer=model.tokenizer).section(after=text)


# --- Self-contained and escaped -----------------------------------------------------------------
def test_every_page_is_self_contained_and_escapes_token_text(model: GPT2) -> None:
    found = list(sections(model, HOSTILE))
    assert [s.anchor for s in found] == ["tokens", "trace", "attention", "lens", "lens", "score", "sample"]
    for document in [pages.standalone(s, HOSTILE) for s in found] + [pages.report(HOSTILE, found)]:
        assert document.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in document
        parsed = assert_self_contained(document)
        text = "".join(parsed.text)
        assert "<script>" in text  # shown, as text: the parser found no script element above
        assert "\x07" not in document and "\u202e" not in document  # made visible, not obeyed
        assert "\\x07" in text and "\\u202e" in text
        document.encode("utf-8")  # (no lone surrogate)
    report = Parsed(pages.report(HOSTILE, found))
    anchors = {attrs["id"] for _tag, attrs in report.elements if "id" in attrs}
    links = [attrs["href"] for tag, attrs in report.elements if tag == "a"]
    assert len(links) == len(found) - 1 + 1 and all(link[1:] in anchors for link in links)  # (the two lens share one)


def test_token_text_shows_what_cannot_be_shown() -> None:
    assert token_text(b"\xf0\x9f") == "\ufffd"  # half an emoji
    assert token_text(b" a\nb\tc\x00") == " a↵b⇥c\\x00"
    assert token_text("\u202e".encode()) == "\\u202e"
    assert token_text("é🤗".encode()) == "é🤗"


def test_the_colour_scale_darkens_steadily() -> None:
    """Lightness falls monotonically from 0 to 1, so the order survives greyscale."""
    def luminance(colour: str) -> float:
        r, g, b = (int(colour[k : k + 2], 16) for k in (1, 3, 5))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    shades = [luminance(shade(k / 100)) for k in range(101)]
    assert all(a >= b for a, b in zip(shades, shades[1:])) and shades[0] - shades[-1] > 180
    assert shade(0.0) == SCALE[0] and shade(1.0) == SCALE[-1] and shade(float("nan")) == SCALE[0]


def test_pages_import_nothing_of_potatogpt() -> None:
    """instruments.py and tensor.py call into pages, so pages must never import them back."""
    for path in PAGES.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1 and not (node.module or "").startswith("potatogpt"), f"{path.name}: {ast.dump(node)}"
                if node.level == 1:
                    assert (PAGES / f"{node.module}.py").exists(), f"{path.name} imports .{node.module}"
            elif isinstance(node, ast.Import):
                assert all(not alias.name.startswith("potatogpt") for alias in node.names), path.name


# --- The numbers shown are instruments.py's -----------------------------------------------------
def test_attention_page_shows_every_weight_of_the_chosen_head(model: GPT2, references: dict[str, Any]) -> None:
    ids = references["attention"]["ids"]
    patterns = instruments.attention_patterns(model, ids)
    parsed = Parsed(pages.standalone(patterns.section(layer=1, head=0)))
    cells = {(int(a["data-i"]), int(a["data-j"])): float(a["data-v"]) for a in parsed.having("data-v") if "data-i" in a}
    n = len(ids)
    assert set(cells) == {(i, j) for i in range(n) for j in range(i + 1)}  # the causal triangle: no j > i
    for (i, j), value in cells.items():
        assert value == patterns[1][0].rows[i][j]
        assert value == pytest.approx(references["attention"]["weights"][1][0][i][j], abs=1e-6)  # transformers'
    heads = {(int(a["data-layer"]), int(a["data-head"])) for a in parsed.having("data-layer")}
    assert heads == {(layer, head) for layer in range(model.config.n_layer) for head in range(model.config.n_head)}
    strongest = [float(a["data-w"]) for a in parsed.having("data-w")]
    every = sorted((w for layer in patterns for head in layer for i, row in enumerate(head.rows) if i for w in row[: i + 1]),
                   reverse=True)
    assert strongest == every[: len(strongest)] and len(strongest) == 10


def test_score_page_shows_the_log_probs_and_perplexity(model: GPT2, references: dict[str, Any]) -> None:
    case = references["score"][0]
    scores = instruments.score(model, case["ids"])
    assert [t.log_prob for t in scores.tokens] == model.score(case["ids"])
    parsed = Parsed(pages.standalone(scores.section()))
    shown = [float(a["data-logp"]) for a in parsed.having("data-logp")]
    assert shown == pytest.approx(case["log_probs"], rel=1e-6, abs=1e-6)  # transformers' own
    (perplexity,) = [float(a["data-perplexity"]) for a in parsed.having("data-perplexity")]
    assert perplexity == pytest.approx(math.exp(case["loss"]), rel=1e-6)
    text = " ".join(parsed.text)
    mean_nll = -sum(model.score(case["ids"])) / (len(case["ids"]) - 1)  # (to the last digit shown: not float32's)
    assert f"perplexity {math.exp(mean_nll):.2f}" in text and f"{mean_nll:.4f} nats" in text
    assert f"{mean_nll / math.log(2):.3f} bits per token" in text
    # The guesses where the model was most surprised are its likeliest tokens there.
    rows = model.logits(case["ids"][:-1])
    for token, row in zip(scores.tokens, rows):
        assert [g for g, _p in token.guesses] == top_k_candidates(row, 3)


def test_lens_grid_shows_the_top_guess_at_every_position(model: GPT2, references: dict[str, Any]) -> None:
    ids = references["lens"]["ids"]
    grid = instruments.lens_grid(model, ids)
    parsed = Parsed(pages.standalone(grid.section()))
    cells = {(a["data-stage"], int(a["data-pos"])): (int(a["data-token"]), float(a["data-p"])) for a in parsed.having("data-p")}
    stages = ["embed", *(f"block {i}" for i in range(model.config.n_layer))]
    assert set(cells) == {(stage, p) for stage in stages for p in range(len(ids))}
    # The last position is logit_lens's, whose top tokens equal transformers' hidden states read the same way.
    for stage, row, theirs in zip(stages, instruments.logit_lens(model, ids), references["lens"]["rows"]):
        token, p = cells[(stage, len(ids) - 1)]
        assert token == theirs["top_ids"][0]
        assert p == softmax(row.logits)[token]
    # The last stage is the model's real output, at every position.
    for p, logits in enumerate(model.logits(ids)):
        best = top_k_candidates(logits, 1)[0]
        token, probability = cells[(stages[-1], p)]
        assert token == best and probability == pytest.approx(softmax(logits)[best], rel=1e-12)


def test_sample_page_shows_each_settings_distribution_and_nucleus(model: GPT2) -> None:
    logits = model.next_token_logits(model.tokenizer.encode("The capital of France is"))
    lab = instruments.sampling_lab(logits, SETTINGS, 40, 0, tokenizer=model.tokenizer)
    parsed = Parsed(pages.standalone(lab.section(rows=8)))
    assert [a["data-setting"] for a in parsed.having("data-setting")] == [s.label for s in SETTINGS]
    assert [int(a["data-candidates"]) for a in parsed.having("data-candidates")] == [len(c.candidates) for c in lab]
    bars = [float(a["data-v"]) for a in parsed.having("data-v")]
    expected = [softmax(logits, s.temperature)[i] if s.temperature else float(i == top_k_candidates(logits, 1)[0])
                for s in SETTINGS for i in top_k_candidates(softmax(logits, s.temperature or 1.0), 8)]
    assert bars == pytest.approx(expected, rel=1e-12)
    assert len(lab[3].candidates) < 8 or len(lab[2].candidates) == 10  # (a cut falls inside the bars shown)


def test_tokens_page_shows_the_ids_in_order() -> None:
    tokenizer = potatogpt.Tokenizer.gpt2()
    steps = instruments.explain_tokens(tokenizer, HOSTILE)
    parsed = Parsed(pages.standalone(steps.section()))
    assert [int(a["data-id"]) for a in parsed.having("data-id")] == tokenizer.encode(HOSTILE)
    assert "15240" in " ".join(Parsed(pages.standalone(instruments.explain_tokens(tokenizer, "Hello").section())).text)


def test_trace_page_puts_the_branded_shapes_on_the_arrows(model: GPT2) -> None:
    passes = instruments.trace(model, [1, 2, 3, 4, 5])
    parsed = Parsed(pages.standalone(passes.section()))
    arrows = [a["data-shape"] for a in parsed.having("data-shape")]
    assert "Tensor[Seq, Embed] (5, 8)" in arrows and "Tensor[Seq, Qkv] (5, 24)" in arrows
    assert "Tensor[Seq, Embed] (1, 8)" in arrows  # the decode step
    text = " ".join(parsed.text)
    assert "Weight[HeadDim, Ctx] (4, 5)" in text and "Weight[HeadDim, Ctx] (4, 6)" in text
    assert "block 1: the same as block 0" in text and "Seq=5" in text


def test_results_show_themselves_in_jupyter(model: GPT2) -> None:
    ids = model.tokenizer.encode("one two")
    results: list[Any] = [instruments.attention_patterns(model, ids), instruments.logit_lens(model, ids),
                          instruments.lens_grid(model, "one two"), instruments.trace(model, ids),
                          instruments.score(model, "one two"), instruments.explain_tokens(model.tokenizer, "one two"),
                          instruments.sampling_lab(model.next_token_logits(ids), SETTINGS[:2], 5, 0)]
    for result in results:
        fragment = result._repr_html_()
        assert fragment.startswith('<div class="pg"><style>') and "<html" not in fragment
        assert_self_contained(fragment)


def test_a_tensor_shows_its_shape_and_a_capped_heat_map() -> None:
    small = from_rows([[1.0, 2.0], [3.0, -1.5]], 2, 2)
    parsed = Parsed(small._repr_html_())
    assert "Tensor(shape=(2, 2))" in " ".join(parsed.text)
    assert "[1, 1] = -1.5" in " ".join(parsed.text)  # every cell's value, in its tooltip
    big = from_rows([[float(i * j) for j in range(100)] for i in range(50)], 50, 100)
    document = big._repr_html_()
    assert document.count("<rect") <= 32 * 32 + 20 and "columns 0–31" in document


# --- Writing ------------------------------------------------------------------------------------
def test_write_page_writes_whole_pages(tmp_path: Path) -> None:
    target = tmp_path / "page.html"
    assert write_page(target, "<p>é</p>") == target
    assert target.read_bytes() == "<p>é</p>".encode()
    write_page(target, "<p>second</p>")
    assert target.read_text(encoding="utf-8") == "<p>second</p>" and os.listdir(tmp_path) == ["page.html"]


@pytest.mark.parametrize("where", ["missing folder", "a file as folder", "a folder"])
def test_an_unwritable_path_is_one_line_and_leaves_nothing(tmp_path: Path, where: str) -> None:
    (tmp_path / "plain").write_text("x")
    (tmp_path / "dir").mkdir()
    path = {"missing folder": tmp_path / "no" / "page.html", "a file as folder": tmp_path / "plain" / "page.html",
            "a folder": tmp_path / "dir"}[where]
    with pytest.raises(PageWriteError) as error:
        write_page(path, "<p>x</p>")
    message = str(error.value)
    assert "\n" not in message and str(path) in message and message.startswith("cannot write the page to")
    assert sorted(os.listdir(tmp_path)) == ["dir", "plain"] and os.listdir(tmp_path / "dir") == []


def test_a_failed_write_keeps_the_old_page_and_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "page.html"
    target.write_text("old")

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(PageWriteError, match="No space left on device"):
        write_page(target, "<p>new</p>")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["page.html"]
