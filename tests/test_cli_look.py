"""The instruments' command line: docs/instruments.md's quoted outputs are real, bad arguments are one line, and
--html writes each instrument's page whole (with its numbers), or says in one line why it cannot."""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import stat
from pathlib import Path
from typing import Any

import pytest

from helpers import CHECKPOINTS, POSIX, ROOT, Exported, Parsed, assert_self_contained, one_error_line, run_main
import potatogpt
from potatogpt import Tokenizer
from potatogpt.cli import look, main as cli

CONSOLE = re.compile(r"```console\n\$ python -m potatogpt (.*?)\n(.*?)```", re.DOTALL)
PYTHON = re.compile(r"```python\n(.*?)```", re.DOTALL)


def look_inside_section() -> str:
    """docs/instruments.md, where every instrument's real output is quoted."""
    return (ROOT / "docs" / "instruments.md").read_text(encoding="utf-8")


def test_readme_quotes_every_instrument(capsys: pytest.CaptureFixture[str], exported: Exported) -> None:
    """Each console block in docs/instruments.md is the command's real output, byte for byte (a golden
    test of every layout), and every instrument is quoted."""
    examples = CONSOLE.findall(look_inside_section())
    assert {shlex.split(command)[0] for command, _ in examples} == set(look.INSTRUMENTS)
    folder = str(exported.folder("tiny-vocab"))
    for command, expected in examples:
        argv = [folder if arg == "weights/tiny-vocab" else arg for arg in shlex.split(command)]
        status, out, err = run_main(capsys, *argv)
        assert (status, err) == (0, ""), command
        assert out == expected, command


def test_readme_python_snippets_run(capsys: pytest.CaptureFixture[str], exported: Exported) -> None:
    model = potatogpt.load(exported.folder("tiny-vocab"))
    namespace: dict[str, object] = {"model": model, "ids": model.tokenizer.encode("Hello, my name is")}
    exec("import math", namespace)
    snippets = PYTHON.findall(look_inside_section())
    assert len(snippets) >= 7
    for snippet in snippets:
        exec(snippet, namespace)  # noqa: S102 (our own README)
    capsys.readouterr()


@pytest.mark.parametrize(("argv", "message"), [
    (["attention", "The cat", "--layer", "2"], "--layer 2: this model's layers are 0-1"),
    (["attention", "The cat", "--layer", "-1"], "--layer -1: this model's layers are 0-1"),
    (["attention", "The cat", "--layer", "0", "--head", "2"], "--head 2: this model's heads are 0-1"),
    (["attention", "The cat", "--head", "0"], "--head 0: give --layer too"),
    (["score", ""], "the text is empty"),
    (["trace", ""], "the text is empty"),
    (["tokens", ""], "the text is empty"),
    (["score", " ".join(["word"] * 70)], "the text is 70 tokens, but the model's context is 64 positions"),
    (["trace", " ".join(["word"] * 64)], "the text is 64 tokens and the decode step needs one more position"),
    (["lens", " ".join(["word"] * 65)], "the model's context is 64 positions"),
    (["sample", "Hi", "--expect", " Parisian"], "--expect ' Parisian' is 2 tokens"),
])
def test_bad_arguments_are_one_line(capsys: pytest.CaptureFixture[str], exported: Exported,
                                    argv: list[str], message: str) -> None:
    weights = [] if argv[0] == "tokens" else ["--weights", str(exported.folder("tiny-vocab"))]
    status, out, err = run_main(capsys, *argv, *weights)
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("potatogpt: error: ") and message in err, err


def test_missing_weights_and_foreign_vocabulary_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                             exported: Exported) -> None:
    status, _, err = run_main(capsys, "lens", "Hi", "--weights", str(tmp_path))
    assert status == 1 and err.count("\n") == 1 and "no weights in" in err
    # The tiny checkpoint has 64 tokens: GPT-2's ids for real text don't fit it.
    status, _, err = run_main(capsys, "score", "Hello there", "--weights", str(exported.folder("tiny")))
    assert status == 1 and err.count("\n") == 1 and "outside this model's vocabulary of 64" in err


@pytest.mark.parametrize("argv", [["sample", "Hi", "--try", "x=1"], ["sample", "Hi", "--try", "p=2"],
                                  ["attention", "Hi", "--layer", "one"], ["lens"]])
def test_bad_flags_get_argparse_usage(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_sample_columns_follow_the_settings(capsys: pytest.CaptureFixture[str], exported: Exported) -> None:
    status, out, _ = run_main(capsys, "sample", "Hi", "--weights", str(exported.folder("tiny-vocab")),
                         "--try", "T=0", "--try", "T=2,k=3", "--draws", "30")
    assert status == 0
    lines = out.splitlines()
    assert lines[1].split()[-3:] == ["T=0", "T=2", "k=3"]
    greedy = lines[2].split()  # the likeliest token: drawn every time at T=0
    assert greedy[-2] == "30"
    assert re.match(r"may draw from +1 +3 ", lines[-1])  # 1 token greedily, 3 with top-k


# --- --html: each instrument's page -------------------------------------------------------------
TEXT = "The cat sat on the mat"
WROTE = re.compile(r"wrote the (.+) to (.+) \((\d+) kB\): open it in any browser, no network needed\n")


@pytest.fixture(scope="module")
def tiny_vocab(exported: Exported) -> potatogpt.GPT2:
    return potatogpt.load(exported.folder("tiny-vocab"))


@pytest.fixture(scope="module")
def references() -> dict[str, Any]:
    """transformers' own attention weights and logit lens for the tiny checkpoint (see its README)."""
    data = json.loads((CHECKPOINTS / "tiny-vocab" / "instruments.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def reference_text(references: dict[str, Any], name: str) -> str:
    """The text whose ids the references were computed for (they come back as the same ids)."""
    ids = references[name]["ids"]
    text = Tokenizer.gpt2().decode(ids)
    assert Tokenizer.gpt2().encode(text) == ids
    return text


def html_page(capsys: pytest.CaptureFixture[str], exported: Exported, folder: Path, *argv: str) -> tuple[Parsed, str]:
    """Run an instrument with --html; the page, parsed after checking it is self-contained, and
    what the command printed after the line saying where the page went."""
    page = folder / "page.html"
    weights = [] if argv[0] == "tokens" else ["--weights", str(exported.folder("tiny-vocab"))]
    status, out, err = run_main(capsys, *argv, "--html", str(page), *weights)
    assert (status, err) == (0, ""), err
    wrote = WROTE.match(out)
    assert wrote is not None and wrote.group(2) == str(page), out
    assert int(wrote.group(3)) == round(page.stat().st_size / 1000)
    assert os.listdir(folder) == ["page.html"]  # (no temporary file left beside it)
    document = page.read_text(encoding="utf-8")
    assert document.startswith("<!DOCTYPE html>") and document.rstrip().endswith("</html>")
    parsed = assert_self_contained(document)
    assert argv[1] in "".join(parsed.text)  # the text looked at is in the title
    return parsed, out[wrote.end():]


def test_tokens_page_holds_the_ids(capsys: pytest.CaptureFixture[str], exported: Exported, tmp_path: Path) -> None:
    parsed, rest = html_page(capsys, exported, tmp_path, "tokens", "Hello, Karpathy 🤗")
    assert rest == ""
    # The ids and a merge rank quoted in docs/instruments.md's text output of the same command.
    assert [int(a["data-id"]) for a in parsed.having("data-id")] == [15496, 11, 509, 5117, 10036, 12520, 97, 245]
    assert "15240" in "".join(parsed.text)


def test_trace_page_holds_both_passes_shapes(capsys: pytest.CaptureFixture[str], exported: Exported,
                                            tmp_path: Path) -> None:
    parsed, _ = html_page(capsys, exported, tmp_path, "trace", TEXT)  # 6 tokens, then the decode step
    arrows = {a["data-shape"] for a in parsed.having("data-shape")}
    assert {"Tensor[Seq, Embed] (6, 8)", "Tensor[Seq, Qkv] (6, 24)", "Tensor[Seq, Embed] (1, 8)"} <= arrows
    text = " ".join(parsed.text)
    assert "Weight[HeadDim, Ctx] (4, 6)" in text and "Weight[HeadDim, Ctx] (4, 7)" in text  # the KV cache grew


def test_score_page_holds_the_log_probs(capsys: pytest.CaptureFixture[str], exported: Exported, tmp_path: Path,
                                       tiny_vocab: potatogpt.GPT2) -> None:
    parsed, _ = html_page(capsys, exported, tmp_path, "score", TEXT)
    ids = [tiny_vocab.tokenizer.eot_id, *tiny_vocab.tokenizer.encode(TEXT)]  # scored after <|endoftext|>
    log_probs = tiny_vocab.score(ids)
    assert [float(a["data-logp"]) for a in parsed.having("data-logp")] == log_probs
    (perplexity,) = [float(a["data-perplexity"]) for a in parsed.having("data-perplexity")]
    assert perplexity == pytest.approx(math.exp(-sum(log_probs) / len(log_probs)), rel=1e-12)


@pytest.mark.parametrize("head", [[], ["--layer", "1", "--head", "0"], ["--layer", "1"]])
def test_attention_page_draws_the_chosen_head_large(capsys: pytest.CaptureFixture[str], exported: Exported,
                                                   tmp_path: Path, references: dict[str, Any], head: list[str]) -> None:
    text = reference_text(references, "attention")
    parsed, _ = html_page(capsys, exported, tmp_path, "attention", text, *head, "--top", "2")
    layer, chosen = (int(head[1]), int(head[3]) if len(head) > 2 else 0) if head else (0, 0)  # (0/0 by default)
    expected = references["attention"]["weights"][layer][chosen]  # transformers' output_attentions
    cells = {(int(a["data-i"]), int(a["data-j"])): float(a["data-v"]) for a in parsed.having("data-v") if "data-i" in a}
    n = len(expected)
    assert set(cells) == {(i, j) for i in range(n) for j in range(i + 1)}
    for (i, j), weight in cells.items():
        assert weight == pytest.approx(expected[i][j], abs=1e-6)
    assert {(int(a["data-layer"]), int(a["data-head"])) for a in parsed.having("data-layer")} == {
        (0, 0), (0, 1), (1, 0), (1, 1)}  # every head small
    assert f"Layer {layer}, head {chosen}" in parsed.text and "its 2 strongest positions (key, weight)" in parsed.text


def test_lens_page_holds_every_position(capsys: pytest.CaptureFixture[str], exported: Exported, tmp_path: Path,
                                       references: dict[str, Any]) -> None:
    text = reference_text(references, "lens")
    parsed, _ = html_page(capsys, exported, tmp_path, "lens", text, "--top", "4")
    cells = {(a["data-stage"], int(a["data-pos"])): a for a in parsed.having("data-p")}
    n = len(references["lens"]["ids"])
    stages = ["embed", "block 0", "block 1"]
    assert set(cells) == {(stage, p) for stage in stages for p in range(n)}
    for stage, theirs in zip(stages, references["lens"]["rows"]):  # transformers' hidden states, read the same way
        assert int(cells[(stage, n - 1)]["data-token"]) == theirs["top_ids"][0]
    assert all(cell["title"].count("“") == 4 for cell in cells.values())  # --top guesses in each tooltip


def test_sample_page_labels_its_bars(capsys: pytest.CaptureFixture[str], exported: Exported, tmp_path: Path,
                                    tiny_vocab: potatogpt.GPT2) -> None:
    parsed, rest = html_page(capsys, exported, tmp_path, "sample", TEXT, "--try", "T=0", "--try", "T=1,p=0.5",
                             "--draws", "20", "--rows", "4", "--expect", " Paris")
    assert [a["data-setting"] for a in parsed.having("data-setting")] == ["T=0", "T=1 p=0.5"]
    assert int(parsed.having("data-candidates")[0]["data-candidates"]) == 1  # greedy: one token
    logits = tiny_vocab.next_token_logits(tiny_vocab.tokenizer.encode(TEXT))
    likeliest = max(range(len(logits)), key=logits.__getitem__)
    assert tiny_vocab.tokenizer.decode([likeliest]) in parsed.text  # a bar labelled with its token, not '#id'
    assert not any(t.startswith("#") and t[1:].isdigit() for t in parsed.text)
    assert len(parsed.having("data-v")) == 2 * 4
    # --expect's answer has no place on the page: it is printed, as without --html.
    assert rest.startswith("' Paris' (id 6342): rank ") and "chance per draw: T=0: not a candidate" in rest


def test_a_page_to_standard_output(capsys: pytest.CaptureFixture[str], exported: Exported) -> None:
    status, out, err = run_main(capsys, "attention", TEXT, "--html", "-", "--weights", str(exported.folder("tiny-vocab")))
    assert (status, err) == (0, "") and out.startswith("<!DOCTYPE html>")
    assert len(assert_self_contained(out).having("data-layer")) == 4
    status, out, err = run_main(capsys, "sample", TEXT, "--html", "-", "--expect", " Paris")
    assert (status, out) == (1, "")
    one_error_line(err, "--expect prints text, which would land inside the page")


def test_lens_page_warns_of_its_cost_on_big_models(capsys: pytest.CaptureFixture[str], exported: Exported,
                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(look, "LENS_WARNING", 1e6)  # (the tiny model's lens is cheap: pretend it is 124M's)
    status, out, err = run_main(capsys, "lens", TEXT, "--html", str(tmp_path / "lens.html"),
                                "--weights", str(exported.folder("tiny-vocab")))
    assert status == 0 and out.startswith("wrote the logit lens page")
    lines = err.splitlines()
    assert len(lines) == 1 and "reads all 6 positions through the 50257 x 8 output layer after each of 3 stages" in lines[0]


# --- --html: pages that cannot be written -------------------------------------------------------
def unwritable(tmp_path: Path, where: str) -> Path:
    (tmp_path / "plain").write_text("x")
    (tmp_path / "dir").mkdir()
    if where == "a FIFO":
        os.mkfifo(tmp_path / "fifo")
    if where == "a read-only folder":
        (tmp_path / "dir").chmod(0o555)
    if where == "a read-only file":
        (tmp_path / "plain").chmod(0o444)
    return {"a missing folder": tmp_path / "no" / "page.html", "a file as folder": tmp_path / "plain" / "page.html",
            "a folder": tmp_path / "dir", "a FIFO": tmp_path / "fifo", "a read-only folder": tmp_path / "dir" / "page.html",
            "a read-only file": tmp_path / "plain"}[where]


WHERE = {"a missing folder": "does not exist", "a file as folder": "is not a folder", "a folder": "it is a folder",
         "a FIFO": "not a regular file", "a read-only folder": "is read-only", "a read-only file": "is read-only"}
AS_ROOT = os.name == "posix" and os.geteuid() == 0  # root writes into read-only folders and files


@POSIX
@pytest.mark.parametrize("where", list(WHERE))
@pytest.mark.parametrize("command", [*look.INSTRUMENTS, "report"])
def test_an_unwritable_page_is_one_line_before_the_load(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                        where: str, command: str) -> None:
    if AS_ROOT and "read-only" in where:
        pytest.skip("running as root, who may write there")
    path = unwritable(tmp_path, where)
    before = sorted(os.listdir(tmp_path))
    # Weights that do not exist: the page's path is refused first, before any load.
    weights = [] if command == "tokens" else ["--weights", str(tmp_path / "no weights")]
    status, out, err = run_main(capsys, command, TEXT, "--html", str(path), *weights)
    assert (status, out) == (1, "")
    one_error_line(err, f"cannot write the page to {path}", WHERE[where])
    assert sorted(os.listdir(tmp_path)) == before and os.listdir(tmp_path / "dir") == []
    assert (tmp_path / "plain").read_text() == "x"
    if where == "a FIFO":
        assert stat.S_ISFIFO(os.stat(path).st_mode)  # still the FIFO: nothing renamed over it


def test_a_page_that_fails_as_it_is_written_leaves_nothing(capsys: pytest.CaptureFixture[str], exported: Exported,
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "page.html"
    page.write_text("the old page")

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    status, out, err = run_main(capsys, "score", TEXT, "--html", str(page), "--weights", str(exported.folder("tiny-vocab")))
    assert (status, out) == (1, "")
    one_error_line(err, f"cannot write the page to {page}", "No space left on device")
    assert page.read_text() == "the old page" and os.listdir(tmp_path) == ["page.html"]


@POSIX
def test_a_page_goes_through_a_symbolic_link(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "real.html").write_text("old")
    (tmp_path / "link.html").symlink_to("real.html")
    status, _, err = run_main(capsys, "tokens", TEXT, "--html", str(tmp_path / "link.html"))
    assert (status, err) == (0, "")
    assert (tmp_path / "link.html").is_symlink() and "<!DOCTYPE html>" in (tmp_path / "real.html").read_text()


@pytest.mark.parametrize(("argv", "message"), [
    (["attention", "The cat", "--layer", "2"], "--layer 2: this model's layers are 0-1"),
    (["attention", "The cat", "--head", "1"], "--head 1: give --layer too"),
    (["trace", " ".join(["word"] * 64)], "the text is 64 tokens and the decode step needs one more position"),
    (["lens", " ".join(["word"] * 65)], "the model's context is 64 positions"),
    (["sample", "Hi", "--expect", " Parisian"], "--expect ' Parisian' is 2 tokens"),
    (["tokens", ""], "the text is empty"),
    (["score", "Hi", "--html", ""], "--html needs a file name"),
])
def test_bad_input_with_html_is_the_same_one_line(capsys: pytest.CaptureFixture[str], exported: Exported,
                                                  tmp_path: Path, argv: list[str], message: str) -> None:
    weights = [] if argv[0] == "tokens" else ["--weights", str(exported.folder("tiny-vocab"))]
    html = [] if "--html" in argv else ["--html", str(tmp_path / "page.html")]
    status, out, err = run_main(capsys, *argv, *html, *weights)
    assert (status, out) == (1, "")
    one_error_line(err, message)
    assert os.listdir(tmp_path) == []
