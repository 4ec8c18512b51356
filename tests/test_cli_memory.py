"""The memory check: a model that clearly won't fit is refused in one line naming one that does."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import Exported, run_cli
from potatogpt.cli import memory
from potatogpt.config import MODEL_SIZES

GIB = 1 << 30


def test_774m_exact_does_not_fit_in_24_gib() -> None:
    # README: 774M exact would need ~25+ GiB; packed peaked at 5.8 GiB, compact at 3.4.
    message = memory.refusal(MODEL_SIZES["774M"], "exact", 1, 22 * GIB)
    assert message is not None and "\n" not in message
    assert "--packed" in message and "--compact" in message and "--skip-memory-check" in message
    assert memory.refusal(MODEL_SIZES["774M"], "packed", 1, 22 * GIB) is None


def test_124m_exact_on_a_4_gib_laptop() -> None:
    # README: 124M exact peaked at 4.83 GiB, packed at 1.09, compact at 0.70.
    message = memory.refusal(MODEL_SIZES["124M"], "exact", 1, 4 * GIB)
    assert message is not None and "--packed" in message and "--compact" in message
    only_compact = memory.refusal(MODEL_SIZES["124M"], "exact", 1, GIB)
    assert only_compact is not None and "--compact" in only_compact and "--packed" not in only_compact
    assert memory.refusal(MODEL_SIZES["124M"], "exact", 1, 8 * GIB) is None


def test_nothing_fits() -> None:
    message = memory.refusal(MODEL_SIZES["1558M"], "exact", 1, GIB)
    assert message is not None and "smaller --model" in message


def test_unknown_memory_means_go_ahead() -> None:
    assert memory.refusal(MODEL_SIZES["1558M"], "exact", 1, None) is None


def test_meminfo_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(memory.OVERRIDE_VARIABLE, raising=False)
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   20000000 kB\n")
    assert memory.available_bytes(meminfo) == 20000000 * 1024
    assert memory.available_bytes(tmp_path / "missing") is None
    meminfo.write_text("MemTotal: 5 kB\n")  # an old kernel without MemAvailable
    assert memory.available_bytes(meminfo) is None


def test_the_cli_refuses_in_one_line_and_can_be_overridden(exported: Exported) -> None:
    folder = str(exported.folder("tiny-vocab"))
    refused = run_cli("--weights", folder, "-n", "1", "Hi", env={memory.OVERRIDE_VARIABLE: "1000"})
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "GiB" in refused.stderr and "Traceback" not in refused.stderr
    forced = run_cli("--weights", folder, "-n", "1", "--skip-memory-check", "Hi", env={memory.OVERRIDE_VARIABLE: "1000"})
    assert forced.returncode == 0, forced.stderr
