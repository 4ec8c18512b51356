"""`python -m potatogpt` end to end on the tiny real-vocabulary checkpoint."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from conftest import Exported, reference
import potatogpt
from potatogpt.cli import main as cli
from potatogpt.api import GPT2
from potatogpt.cli.console import Terminated

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(r"^potatogpt: (\d+) tokens in [\d.]+ s: prompt \(\d+ tokens\) [\d.]+ s(, then [\d.]+ s/token)?; "
                     r"first token after [\d.]+ s, load [\d.]+ s")


def run_cli(*args: str, stdin: str | None = None, cwd: Path = ROOT,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "potatogpt", *args],
        input=stdin, capture_output=True, text=True, cwd=cwd, env=env, timeout=120,
    )


def greedy_case() -> dict[str, object]:
    greedy = cast(list[dict[str, object]], reference("tiny-vocab")["greedy"])
    return greedy[0]


@pytest.mark.parametrize("speed_flags", [[], ["--packed"], ["--low-memory", "--jobs", "2"], ["--compact"], ["--storage", "packed"], ["--reference"]])
def test_streams_the_greedy_continuation(exported: Exported, speed_flags: list[str]) -> None:
    case = greedy_case()
    n_new = len(cast(list[int], case["new_ids"]))
    result = run_cli("--weights", str(exported.folder("tiny-vocab")), "-n", str(n_new), "--ignore-eot",
                     *speed_flags, str(case["prompt_text"]))
    assert result.returncode == 0, result.stderr
    # transformers' own decoding of its greedy tokens, after the prompt:
    assert result.stdout == f"{case['prompt_text']}{case['new_text']}\n"
    summary = SUMMARY.match(result.stderr.strip())
    assert summary and int(summary.group(1)) == n_new, result.stderr


@pytest.mark.parametrize("settings", [["--temperature", "0.9", "--seed", "3"],
                                      ["--temperature", "1.3", "--top-k", "20", "--top-p", "0.9", "--seed", "8"]])
def test_sampling_flags_reach_the_sampler(exported: Exported, settings: list[str]) -> None:
    """The CLI's text is exactly the API's seeded `generate` with the same settings; and the
    settings matter (another seed, or no temperature, gives other text), so a CLI that dropped
    --temperature or --seed would fail here."""
    folder = exported.folder("tiny-vocab")
    model = potatogpt.load(folder)
    ids = model.tokenizer.encode("Hello, my name is")
    flags = dict(zip(settings[::2], settings[1::2]))

    def api_text(seed: int, temperature: float) -> str:
        new = model.generate(ids, 12, temperature=temperature, seed=seed, stop_at_eot=False,
                             top_k=int(flags["--top-k"]) if "--top-k" in flags else None,
                             top_p=float(flags["--top-p"]) if "--top-p" in flags else None)
        return model.tokenizer.decode(list(new))

    expected = api_text(int(flags["--seed"]), float(flags["--temperature"]))
    assert expected != api_text(int(flags["--seed"]) + 1, float(flags["--temperature"]))
    assert expected != model.tokenizer.decode(list(model.generate(ids, 12, stop_at_eot=False)))
    result = run_cli("--weights", str(folder), "-n", "12", "--ignore-eot", *settings, "Hello, my name is")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Hello, my name is{expected}\n"


def test_prompt_from_a_pipe(exported: Exported) -> None:
    case = greedy_case()
    result = run_cli("--weights", str(exported.folder("tiny-vocab")), "-n", "3", stdin=f"{case['prompt_text']}\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(case["prompt_text"]))


def test_show_top_lists_probabilities(exported: Exported) -> None:
    result = run_cli("--weights", str(exported.folder("tiny-vocab")), "-n", "2", "--show-top", "3", "Hello")
    assert result.returncode == 0, result.stderr
    steps = [line for line in result.stdout.splitlines() if line.lstrip().startswith("[")]
    assert len(steps) == 2
    assert all(len(re.findall(r"\d+\.\d%", line)) == 3 for line in steps)


@pytest.mark.parametrize("offline", [["--offline"], ["--env"]])
def test_missing_weights_say_how_to_make_them(tmp_path: Path, offline: list[str]) -> None:
    if offline == ["--env"]:
        result = run_cli("--model", "355M", "Hello", cwd=tmp_path, env={"POTATOGPT_OFFLINE": "1"})
    else:
        result = run_cli("--model", "355M", *offline, "Hello", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "weights/355M" in lines[0] and "export_weights.py --model 355M" in lines[0]
    assert "downloading is off" in lines[0]
    assert not (tmp_path / "weights").exists()


def test_weights_folder_that_is_not_one(tmp_path: Path) -> None:
    result = run_cli("--weights", str(tmp_path), "Hello")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert str(tmp_path) in result.stderr and "Traceback" not in result.stderr


def test_broken_weights_file_is_one_line(exported: Exported, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(exported.folder("tiny"), broken)
    (broken / "wte.weight.f32").write_bytes(b"\0\0\0")
    result = run_cli("--weights", str(broken), "-n", "1", "Hi")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "wte.weight.f32" in result.stderr and "Traceback" not in result.stderr


def test_prompt_too_long_for_the_context(exported: Exported) -> None:
    result = run_cli("--weights", str(exported.folder("tiny-vocab")), "-n", "60", "word " * 10)
    assert result.returncode == 1
    assert "context is 64" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--top-p", "2"], "--top-p"),
        (["--temperature", "-1"], "--temperature"),
        (["-n", "lots"], "--max-new-tokens"),
        (["--top-k", "5"], "add --temperature"),
        (["--model", "7B"], "--model"),
        (["--jobs", "0"], "--jobs"),
        (["--packed", "--low-memory"], "not allowed with"),
        (["--reference", "--packed"], "not allowed with"),
        (["--reference", "--jobs", "2"], "drop --jobs"),
    ],
)
def test_bad_flags_are_refused(flags: list[str], message: str) -> None:
    result = run_cli(*flags, "Hello")
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_help_has_examples() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout and "--show-top" in result.stdout


class Recorder(io.StringIO):
    """A stdout that remembers what had been written at each flush."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        self.flushed.append(self.getvalue())


def test_each_token_is_flushed_as_it_comes(exported: Exported, monkeypatch: pytest.MonkeyPatch) -> None:
    out = Recorder()
    monkeypatch.setattr(sys, "stdout", out)
    assert cli.main(["--weights", str(exported.folder("tiny-vocab")), "-n", "5", "--ignore-eot", "Hello"]) == 0
    # The prompt, then one flush per token (a token that ends mid-character adds nothing yet).
    assert out.flushed[0] == "Hello"
    assert len(out.flushed) >= 6
    assert out.flushed == sorted(out.flushed, key=len)


@pytest.mark.parametrize(("interrupt", "status"), [(KeyboardInterrupt(), 130), (Terminated(signal.SIGTERM), 143)])
def test_an_interrupt_keeps_the_output_and_prints_the_summary(
    exported: Exported, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    interrupt: KeyboardInterrupt, status: int,
) -> None:
    """Ctrl-C, or a `kill` (which console.py turns into an interrupt), in the middle of generating:
    what was printed stays, the summary says so, and the exit status says which it was."""

    def interrupted_generate(self: GPT2, ids: list[int], *args: object, **kwargs: object) -> Iterator[int]:
        yield 15496  # "Hello"
        yield 995  # " world"
        raise interrupt

    monkeypatch.setattr(GPT2, "generate", interrupted_generate)
    assert cli.main(["--weights", str(exported.folder("tiny-vocab")), "-n", "10", "Say:"]) == status
    captured = capsys.readouterr()
    assert captured.out == "Say:Hello world\n"
    assert "2 tokens" in captured.err and "(interrupted)" in captured.err


def test_a_terminal_that_cannot_show_a_character(exported: Exported) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="ascii")
    result = subprocess.run([sys.executable, "-m", "potatogpt", "--weights", str(exported.folder("tiny-vocab")),
                             "-n", "2", "Caf\u00e9 \u2615"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Caf? ?")
