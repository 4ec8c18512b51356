"""pyright (VS Code's checker) must see the same shape mistakes as mypy, and the package must be clean.

Skipped only where pyright is not installed; CI installs it from requirements-dev.txt.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import EXAMPLE, ROOT, marked_errors

pytest.importorskip("pyright", reason="pyright is not installed (pip install -r requirements-dev.txt)")


# The same mistake goes by a different name in each checker.
PYRIGHT_RULE = {
    "operator": "reportOperatorIssue",
    "arg-type": "reportArgumentType",
    "assignment": "reportAssignmentType",
    "return-value": "reportReturnType",
}


def run_pyright(*paths: Path) -> tuple[set[tuple[int, str]], str]:
    """(line, rule) of every error pyright reports, and its raw output for the failure message."""
    result = subprocess.run([sys.executable, "-m", "pyright", "--outputjson", *map(str, paths)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"pyright did not run: {result.stdout[-2000:]}{result.stderr[-2000:]}")
    errors = {(d["range"]["start"]["line"] + 1, d.get("rule", "")) for d in report["generalDiagnostics"]
              if d["severity"] == "error"}
    return errors, result.stdout


def test_pyright_reports_every_marked_mistake_and_nothing_else() -> None:
    expected = {(line, PYRIGHT_RULE[code]) for line, code in marked_errors(EXAMPLE)}
    assert len(expected) >= 7
    reported, output = run_pyright(EXAMPLE)
    assert reported == expected, output


def test_the_package_is_pyright_clean() -> None:
    reported, output = run_pyright(ROOT / "potatogpt", ROOT / "export_weights.py")
    assert reported == set(), output
