"""`python -m potatogpt train` and `gradcheck` (potatogpt/cli/train.py, run_state.py, gradcheck.py): a run writes a weights folder
every command reads, Ctrl-C saves and --resume continues bit for bit, bad input is one line with
nothing written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import potatogpt
from helpers import POSIX, ROOT, Exported, one_error_line, run_cli, run_main
from potatogpt.weights.checkpoint import open_checkpoint

# A model small enough that a step takes milliseconds.
TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "8", "--block-size", "8", "--batch-size", "2",
        "--eval-batches", "1"]
TEXT = ("The quick brown fox jumps over the lazy dog. " * 20 + "\n") * 4


@pytest.fixture
def text(tmp_path: Path) -> Path:
    path = tmp_path / "fox.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def log_of(folder: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (folder / "log.jsonl").read_text(encoding="utf-8").splitlines()]


def losses(folder: Path) -> list[tuple[int, float]]:
    return [(int(str(e["step"])), float(str(e["loss"]))) for e in log_of(folder) if "loss" in e]


# --- A run ------------------------------------------------------------------------------------
def test_a_run_writes_a_weights_folder_that_everything_reads(tmp_path: Path, text: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fox"
    status, stdout, err = run_main(capsys, "train", str(text), "--out", str(out), *TINY, "--steps", "12",
                                   "--eval-every", "4")
    assert status == 0, err
    assert "step 4: train loss" in stdout and "held-out loss" in stdout and "step 12:" in stdout
    assert "* held-out" in stdout  # the curves
    log = log_of(out)
    steps = [e["step"] for e in log if "loss" in e]
    assert steps == list(range(1, 13))
    assert [e["step"] for e in log if "val_loss" in e] == [4, 8, 12]
    first, last = losses(out)[0][1], losses(out)[-1][1]
    assert last < first  # it learns: AdamW at lr 3e-3 on a repetitive text
    # An ordinary weights folder: the generator, the instruments and gradcheck read it.
    checkpoint = open_checkpoint(out, verify_sha256=True)
    assert checkpoint.config.n_ctx == 8 and checkpoint.config.vocab_size == 257
    model = potatogpt.load(out)
    assert len(list(model.generate(model.tokenizer.encode("The"), 4))) <= 4
    status, stdout, _ = run_main(capsys, "--weights", str(out), "-n", "3", "The")
    assert status == 0 and stdout.startswith("The")
    status, stdout, _ = run_main(capsys, "score", "The fox", "--weights", str(out))
    assert status == 0 and "perplexity" in stdout
    status, stdout, err = run_main(capsys, "gradcheck", str(out), "--tokens", "4")
    assert status == 0, err
    assert "coordinates agree" in stdout


def test_a_learnt_vocabulary(tmp_path: Path, text: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bpe"
    status, _, err = run_main(capsys, "train", str(text), "--out", str(out), *TINY, "--steps", "2",
                              "--eval-every", "2", "--vocab-size", "270")
    assert status == 0, err
    tokenizer = potatogpt.load(out).tokenizer
    assert tokenizer.vocab_size == 270
    assert len(tokenizer.encode("The quick brown fox")) < len("The quick brown fox")  # merges learnt


def test_a_vocabulary_the_text_cannot_fill_is_reported(tmp_path: Path, text: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bpe"
    status, _, err = run_main(capsys, "train", str(text), "--out", str(out), *TINY, "--steps", "1",
                              "--eval-every", "1", "--vocab-size", "5000")
    assert status == 0, err
    vocab_size = potatogpt.load(out).tokenizer.vocab_size
    assert vocab_size < 5000
    assert f"{vocab_size} tokens" in err and "no more pairs" in err


def test_fine_tuning_keeps_the_folder_and_its_tokenizer(exported: Exported, tmp_path: Path, text: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    source = exported.folder("tiny-vocab")
    out = tmp_path / "tuned"
    status, _, err = run_main(capsys, "train", str(text), "--from", str(source), "--out", str(out), "--steps", "2",
                              "--eval-every", "2", "--eval-batches", "1", "--block-size", "8")
    assert status == 0, err
    before, after = potatogpt.load(source), potatogpt.load(out)
    assert after.config == before.config
    assert after.tokenizer.encode("Hello world") == before.tokenizer.encode("Hello world")
    assert after.next_token_logits([15496]) != before.next_token_logits([15496])  # it moved


def test_gradcheck_finds_a_wrong_backward(tmp_path: Path, text: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "fox"
    assert run_main(capsys, "train", str(text), "--out", str(out), *TINY, "--steps", "1", "--eval-every", "1")[0] == 0
    from potatogpt import backward

    real = backward.gelu_backward
    monkeypatch.setattr(backward, "gelu_backward", lambda dy, x: real(dy, x) * 1.01)
    status, stdout, _ = run_main(capsys, "gradcheck", str(out), "--tokens", "4")
    assert status == 1
    assert "disagree" in stdout and "mlp.c_fc" in stdout


# --- Stopping and continuing ------------------------------------------------------------------
def train_until_interrupted(command: list[str], signum: int, after_line: str,
                            delay: float) -> subprocess.CompletedProcess[str]:
    """Run `command`, send `signum` `delay` seconds after `after_line` appeared on its stdout, and wait."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "potatogpt", *command], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith(after_line):
            time.sleep(delay)  # in the save, a step's gradients or its update, or an evaluation
            process.send_signal(signum)
            break
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(command, process.returncode, "".join(seen) + stdout, stderr)


@POSIX
@pytest.mark.parametrize(("signum", "status", "delay"), [(signal.SIGINT, 130, 0.0), (signal.SIGINT, 130, 0.03),
                                                         (signal.SIGINT, 130, 0.1), (signal.SIGTERM, 143, 0.05)])
def test_an_interrupted_run_resumes_bit_for_bit(tmp_path: Path, text: Path, signum: int, status: int,
                                                delay: float) -> None:
    settings = [*TINY, "--steps", "40", "--eval-every", "5"]
    whole = tmp_path / "whole"
    assert run_cli("train", str(text), "--out", str(whole), *settings).returncode == 0
    part = tmp_path / "part"
    stopped = train_until_interrupted(["train", str(text), "--out", str(part), *settings], signum, "step 10:", delay)
    assert stopped.returncode == status, stopped.stderr
    saved_at = int(json.loads((part / "training" / "state.json").read_text())["step"])
    assert 10 <= saved_at < 40, stopped.stdout
    assert stopped.stderr.splitlines() == [f"potatogpt train: interrupted at step {saved_at}; saved {part} "
                                           f"(continue with --resume {part})"]
    open_checkpoint(part, verify_sha256=True)  # a whole folder, not half of one
    resumed = run_cli("train", "--resume", str(part))
    assert resumed.returncode == 0, resumed.stderr
    assert losses(part) == losses(whole)  # every step's loss, to the last bit
    assert [e for e in log_of(part) if "val_loss" in e] == [e for e in log_of(whole) if "val_loss" in e]


def test_resume_trains_for_longer(tmp_path: Path, text: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert run_main(capsys, "train", str(text), "--out", str(out), *TINY, "--steps", "4", "--eval-every", "2")[0] == 0
    status, _, err = run_main(capsys, "train", "--resume", str(out), "--steps", "6")
    assert status == 0, err
    assert [step for step, _ in losses(out)] == [1, 2, 3, 4, 5, 6]


# --- Bad input: one line, nothing written -------------------------------------------------------
@pytest.mark.parametrize(("make", "fragment"), [
    (lambda d: (d / "empty.txt").write_text(""), "empty"),
    (lambda d: (d / "binary.txt").write_bytes(b"PK\x03\x04\x00\x00\xff\xfe" * 50), "binary.txt"),
    (lambda d: (d / "short.txt").write_text("hi"), "block"),
])
def test_bad_text_is_one_line_and_writes_nothing(tmp_path: Path, make: object, fragment: str) -> None:
    make(tmp_path)  # type: ignore[operator]
    source = next(p for p in tmp_path.iterdir() if p.suffix == ".txt")
    out = tmp_path / "out"
    result = run_cli("train", str(source), "--out", str(out), *TINY, "--steps", "2")
    assert result.returncode == 1, result.stderr
    one_error_line(result.stderr, fragment)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == [source.name]  # no staging folder left either


@pytest.mark.parametrize(("args", "fragment", "status"), [
    (["--n-embd", "10", "--n-head", "4"], "not divisible", 2),
    (["--from", "no-such-folder"], "no-such-folder", 1),
    (["--vocab-size", "100"], "at least 257", 2),
    (["--resume", "no-such-run", "--lr", "1"], "--resume continues the run", 2),
    (["--min-lr", "1", "--lr", "0.1"], "--min-lr", 1),
])
def test_bad_settings_are_one_line(tmp_path: Path, text: Path, args: list[str], fragment: str, status: int) -> None:
    out = tmp_path / "out"
    result = run_cli("train", str(text), "--out", str(out), *args)
    assert result.returncode == status, result.stderr
    assert fragment in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_a_folder_that_is_not_a_run_is_refused(exported: Exported, tmp_path: Path) -> None:
    result = run_cli("train", "--resume", str(exported.folder("tiny")))
    assert result.returncode == 1
    one_error_line(result.stderr, "not a training run")
    existing = tmp_path / "photos"
    existing.mkdir()
    (existing / "cat.jpg").write_bytes(b"\xff\xd8")
    for force in ([], ["--force"]):
        result = run_cli("train", "--out", str(existing), *TINY, "--steps", "1", *force)
        assert result.returncode == 1
        one_error_line(result.stderr, str(existing))
        assert [p.name for p in existing.iterdir()] == ["cat.jpg"]


def test_training_that_cannot_fit_is_refused_up_front(exported: Exported, tmp_path: Path, text: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("train", str(text), "--from", str(exported.folder("tiny-vocab")), "--out", str(out),
                     env={"POTATOGPT_MEMORY_AVAILABLE": str(10**6)})
    assert result.returncode == 1
    one_error_line(result.stderr, "training this model needs about", "--skip-memory-check")
    assert not out.exists()


@POSIX
@pytest.mark.parametrize("name", ["training/state.json", "training/params.f64", "training/tokens.u32", "log.jsonl"])
def test_a_pipe_in_a_saved_run_is_refused_not_waited_on(tmp_path: Path, text: Path, name: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert run_main(capsys, "train", str(text), "--out", str(out), *TINY, "--steps", "2", "--eval-every", "2")[0] == 0
    (out / name).unlink()
    os.mkfifo(out / name)
    result = run_cli("train", "--resume", str(out))  # (run_cli's timeout fails the test if it waits)
    if name == "log.jsonl":  # the log only informs the curves: a run goes on without it
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 1
        one_error_line(result.stderr, str(out / name))
