"""The README stays a short front door, and every link and file path in the docs leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "exercises" / "README.md",
         ROOT / "weights" / "README.md", ROOT / "checkpoints" / "README.md"]
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")
REPO_PATH = re.compile(r"`((?:potatogpt|tests|bench|examples|exercises|checkpoints|tools|docs)/[\w./-]+\.(?:py|md|json|ipynb))`")


def test_the_readme_is_a_front_door() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode("utf-8")) <= 12 * 1024
    for part in ("## Quick start", "## The forward pass, with its shapes", "## Reading the code",
                 "## Shapes that mypy checks", "## Python API"):
        assert part in readme, part


def test_links_lead_to_files() -> None:
    for page in PAGES:
        for target, _anchor in LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to {target}, which does not exist"


def test_named_files_exist() -> None:
    for page in PAGES:
        for path in REPO_PATH.findall(page.read_text(encoding="utf-8")):
            assert (ROOT / path).exists(), f"{page.relative_to(ROOT)} names {path}, which does not exist"
