"""What every command shares (cli/options.py): the argument types, finding the weights (and on a first
run downloading the default model, here from the stand-in hub of helpers.py), load failures in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import HUB_CHECKPOINT, ROOT, Exported, Hub, greedy_case, one_error_line, run_cli, shell


# --- Argument types ---------------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["-n", "--jobs", "--top-k", "--show-top", "--seed"])
def test_a_number_with_thousands_of_digits(flag: str) -> None:
    result = shell('exec "$0" -m potatogpt "$1" "$2" Hello', flag, "7" * 5000)
    assert result.returncode == 2
    error = result.stderr.splitlines()[-1]
    assert error.startswith("potatogpt: error: argument") and "5000 digits long" in error
    assert len(error) < 200 and "Traceback" not in result.stderr


@pytest.mark.parametrize("seed", [str(2**64 - 1), str(2**128 - 1), "-1", "0", "1_000"])
def test_seeds_people_use_are_accepted(exported: Exported, seed: str) -> None:
    """2**64 - 1 (20 digits) is a seed people really use; the API takes any int, so should --seed."""
    folder = str(exported.folder("tiny-vocab"))
    runs = [run_cli("--weights", folder, "-n", "5", "--temperature", "1", "--seed", seed, "Hello") for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    assert runs[0].stdout == runs[1].stdout  # and it still makes the sampling repeatable


@pytest.mark.parametrize("flag", ["-n", "--jobs", "--top-k", "--show-top"])
def test_integers_as_long_as_a_seed_are_accepted_where_they_make_sense(exported: Exported, flag: str) -> None:
    # (A huge --jobs is capped at the narrowest matrix's width; -n that large doesn't fit the context.)
    result = run_cli("--weights", str(exported.folder("tiny-vocab")), "-n", "2", "--temperature", "1", flag, str(2**64 - 1),
                     "Hello")
    if flag == "-n":
        assert result.returncode == 1
        one_error_line(result.stderr, "context")
    else:
        assert result.returncode == 0, result.stderr


# --- Finding and loading the weights ----------------------------------------------------------
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


# --- From a fresh clone to the first token: the default model fetched unless told to stay offline ---
def potatogpt(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # (A POTATOGPT_OFFLINE set where the tests run must not decide what is being tested.)
    inherited = {k: v for k, v in os.environ.items() if k != "POTATOGPT_OFFLINE"}
    environment = {**inherited, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "potatogpt", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=120)


def test_a_missing_default_model_is_downloaded_then_used(hub: Hub, tmp_path: Path) -> None:
    case = greedy_case()
    n_new = str(len(case["new_ids"]))  # type: ignore[arg-type]
    run = potatogpt("--base-url", hub.url, "-n", n_new, "--ignore-eot", str(case["prompt_text"]), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"{case['prompt_text']}{case['new_text']}\n"
    assert (tmp_path / "weights" / "124M" / "manifest.json").is_file()
    # Said up front: what, from where, how big, and where it will live.
    announcement = run.stderr.splitlines()[0]
    size = len(hub.files["model.safetensors"])
    assert announcement.startswith("downloading GPT-2 124M from ")
    assert f"{hub.url}/openai-community/gpt2" in announcement
    assert f"model.safetensors ({size / 1000:.1f} kB)" in announcement
    assert "weights/124M" in announcement
    assert "model.safetensors: 100%" in run.stderr and "Traceback" not in run.stderr

    # The second run finds the folder and asks the hub nothing.
    count = len(hub.requests)
    again = potatogpt("--base-url", hub.url, "-n", "2", "Hello", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(hub.requests) == count


def test_the_old_download_flag_still_works(hub: Hub, tmp_path: Path) -> None:
    run = potatogpt("--download", "--base-url", hub.url, "-n", "2", "Hello", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "weights" / "124M" / "manifest.json").is_file()


@pytest.mark.parametrize("how", ["--offline", "POTATOGPT_OFFLINE=1"])
def test_offline_never_asks_the_hub(hub: Hub, tmp_path: Path, how: str) -> None:
    if how == "--offline":
        run = potatogpt("--offline", "--base-url", hub.url, "Hello", cwd=tmp_path)
    else:
        run = potatogpt("--base-url", hub.url, "Hello", cwd=tmp_path, env={"POTATOGPT_OFFLINE": "1"})
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1
    assert "python export_weights.py --model 124M" in run.stderr and "downloading is off" in run.stderr
    assert hub.requests == []
    assert not (tmp_path / "weights").exists()


def test_weights_dir_never_downloads(hub: Hub, tmp_path: Path) -> None:
    run = potatogpt("--weights", str(tmp_path / "mine"), "--base-url", hub.url, "Hello", cwd=tmp_path)
    assert run.returncode == 1 and run.stderr.count("\n") == 1
    assert "mine" in run.stderr and "Traceback" not in run.stderr
    assert hub.requests == []


def test_an_unreachable_hub_is_one_line(tmp_path: Path) -> None:
    run = potatogpt("--base-url", "http://127.0.0.1:9", "Hello", cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and "cannot reach" in run.stderr
    assert not (tmp_path / "weights" / "124M").exists()


def test_a_model_too_big_is_refused_before_downloading(hub: Hub, tmp_path: Path) -> None:
    run = potatogpt("--base-url", hub.url, "Hello", cwd=tmp_path, env={"POTATOGPT_MEMORY_AVAILABLE": "1000"})
    assert run.returncode == 1 and run.stderr.count("\n") == 1
    assert "GiB" in run.stderr and "--skip-memory-check" in run.stderr
    assert hub.requests == []


def test_potatogpt_download_exports_then_generates(hub: Hub, tmp_path: Path) -> None:
    """`python -m potatogpt --download` with no weights: export first, then the usual stream."""
    reference = json.loads((HUB_CHECKPOINT / "reference.json").read_text(encoding="utf-8"))
    case = reference["greedy"][0]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "potatogpt", "--download", "--base-url", hub.url, "--model", "124M",
               "-n", str(len(case["new_ids"])), "--ignore-eot", case["prompt_text"]]
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout == case["prompt_text"] + case["new_text"] + "\n"
    assert (tmp_path / "weights" / "124M" / "manifest.json").is_file()
    assert "Traceback" not in run.stderr
