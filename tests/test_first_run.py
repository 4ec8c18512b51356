"""From a fresh clone to the first token: `python -m potatogpt "..."` fetches the default model
itself (against the local stand-in hub of test_download.py), unless told to stay offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_download import FIXTURE, Hub, hub  # noqa: F401  (hub is a fixture)

ROOT = Path(__file__).resolve().parent.parent


def potatogpt(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # (A POTATOGPT_OFFLINE set where the tests run must not decide what is being tested.)
    inherited = {k: v for k, v in os.environ.items() if k != "POTATOGPT_OFFLINE"}
    environment = {**inherited, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "potatogpt", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=120)


def greedy_case() -> dict[str, object]:
    reference = json.loads((FIXTURE / "reference.json").read_text(encoding="utf-8"))
    case: dict[str, object] = reference["greedy"][0]
    return case


def test_a_missing_default_model_is_downloaded_then_used(hub: Hub, tmp_path: Path) -> None:  # noqa: F811
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


def test_the_old_download_flag_still_works(hub: Hub, tmp_path: Path) -> None:  # noqa: F811
    run = potatogpt("--download", "--base-url", hub.url, "-n", "2", "Hello", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "weights" / "124M" / "manifest.json").is_file()


@pytest.mark.parametrize("how", ["--offline", "POTATOGPT_OFFLINE=1"])
def test_offline_never_asks_the_hub(hub: Hub, tmp_path: Path, how: str) -> None:  # noqa: F811
    if how == "--offline":
        run = potatogpt("--offline", "--base-url", hub.url, "Hello", cwd=tmp_path)
    else:
        run = potatogpt("--base-url", hub.url, "Hello", cwd=tmp_path, env={"POTATOGPT_OFFLINE": "1"})
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1
    assert "python export_weights.py --model 124M" in run.stderr and "downloading is off" in run.stderr
    assert hub.requests == []
    assert not (tmp_path / "weights").exists()


def test_weights_dir_never_downloads(hub: Hub, tmp_path: Path) -> None:  # noqa: F811
    run = potatogpt("--weights", str(tmp_path / "mine"), "--base-url", hub.url, "Hello", cwd=tmp_path)
    assert run.returncode == 1 and run.stderr.count("\n") == 1
    assert "mine" in run.stderr and "Traceback" not in run.stderr
    assert hub.requests == []


def test_an_unreachable_hub_is_one_line(tmp_path: Path) -> None:
    run = potatogpt("--base-url", "http://127.0.0.1:9", "Hello", cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and "cannot reach" in run.stderr
    assert not (tmp_path / "weights" / "124M").exists()


def test_a_model_too_big_is_refused_before_downloading(hub: Hub, tmp_path: Path) -> None:  # noqa: F811
    run = potatogpt("--base-url", hub.url, "Hello", cwd=tmp_path, env={"POTATOGPT_MEMORY_AVAILABLE": "1000"})
    assert run.returncode == 1 and run.stderr.count("\n") == 1
    assert "GiB" in run.stderr and "--skip-memory-check" in run.stderr
    assert hub.requests == []
