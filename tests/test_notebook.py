"""docs/inside_gpt2.ipynb runs from top to bottom on the tiny checkpoint, and every picture cell
shows a picture.  Needs nbclient and ipykernel (requirements-dev.txt); skips without them."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import Exported

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "inside_gpt2.ipynb"


def test_the_notebook_runs_and_draws(exported: Exported, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install -r requirements-dev.txt; not pinned for Python 3.10, where ipykernel 7 does not run)")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install -r requirements-dev.txt)")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install -r requirements-dev.txt)")
    monkeypatch.setenv("POTATOGPT_WEIGHTS", str(exported.folder("tiny-vocab")))  # never 124M: quick
    notebook = nbformat.read(str(NOTEBOOK), as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    pictures = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            assert output.output_type != "error", "".join(output.get("traceback", []))
            html = output.get("data", {}).get("text/html")
            if html is not None:
                assert html.startswith('<div class="pg">')
                pictures += 1
    assert pictures == 7  # tokens, trace, attention, one head, lens, score, sampling
