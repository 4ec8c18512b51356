"""mypy must report exactly the shape mistakes marked in examples/shape_errors.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from mypy import api

from helpers import EXAMPLE, ROOT, marked_errors

TYPING_CHECKS = ROOT / "tests" / "typing_checks.py"

REPORTED = re.compile(r"^[^:]+:(\d+): error: .*\[([a-z-]+)\]$")


def run_mypy(path: Path) -> tuple[set[tuple[int, str]], str]:
    stdout, stderr, _status = api.run(
        [
            "--strict",
            "--no-incremental",
            "--cache-dir=/dev/null",
            "--show-error-codes",
            "--no-error-summary",
            "--hide-error-context",
            "--no-pretty",
            "--config-file=",
            str(path),
        ]
    )
    errors = set()
    for line in stdout.splitlines():
        found = REPORTED.match(line)
        if found:
            errors.add((int(found.group(1)), found.group(2)))
    return errors, stdout + stderr


def test_every_marked_mistake_is_reported_and_nothing_else() -> None:
    expected = marked_errors(EXAMPLE)
    assert len(expected) >= 7  # the file keeps all its lessons
    reported, output = run_mypy(EXAMPLE)
    assert reported == expected, output


def test_marks_cover_the_required_kinds_of_mistake() -> None:
    codes = {code for _line, code in marked_errors(EXAMPLE)}
    assert {"operator", "arg-type", "assignment", "return-value"} <= codes


def test_typing_checks_file_is_clean() -> None:
    reported, output = run_mypy(TYPING_CHECKS)
    assert reported == set(), output
    assert "error" not in output, output


def test_readme_shows_the_real_mypy_output_and_shape_error() -> None:
    """The README's demo quotes mypy and the ShapeError: keep the quotes true."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    demo = ROOT / "examples" / "mlp_shapes.py"
    assert demo.read_text(encoding="utf-8").strip() in readme
    stdout, _stderr, status = api.run(["--config-file", str(ROOT / "mypy.ini"), "--cache-dir=/dev/null", str(demo)])
    assert status == 1
    for line in stdout.splitlines():
        assert line.replace(str(ROOT) + "/", "") in readme, line
    run = subprocess.run([sys.executable, str(demo)], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""})
    last_line = run.stderr.strip().splitlines()[-1]
    assert last_line.startswith("potatogpt.tensor.ShapeError: matmul")
    assert last_line in readme
