"""The instruments' command line: docs/instruments.md's quoted outputs are real, and bad arguments are one line."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from helpers import ROOT, Exported, run_main
import potatogpt
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
