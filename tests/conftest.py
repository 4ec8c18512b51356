"""Shared fixtures: the committed tiny checkpoints, exported once per test session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from potatogpt.convert.export import convert

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"
CHECKPOINT_NAMES = sorted(p.name for p in CHECKPOINTS.iterdir() if (p / "reference.json").is_file())


class Exported:
    """Checkpoint folders converted to potatogpt's format, each converted only once."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, name: str) -> Path:
        out = self.root / name
        if not out.exists():
            convert(CHECKPOINTS / name, out)
        return out


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    return Exported(tmp_path_factory.mktemp("exported"))


def reference(name: str) -> dict[str, object]:
    data = json.loads((CHECKPOINTS / name / "reference.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data
