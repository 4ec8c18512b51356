"""Every instrument's page in a real browser (headless Chromium): it draws something, and the DOM it
builds holds the expected cells.  Skips where Debian's `chromium` package is not installed."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from helpers import Exported
import potatogpt
from potatogpt import instruments, pages
from potatogpt.instruments import Setting
from tools.headless import chromium, distinct_colours, dump_dom, screenshot

pytestmark = pytest.mark.skipif(chromium() is None, reason="headless Chromium is not installed "
                                "(apt-get install chromium; .ci/run installs it): the pages were not drawn")

TEXT = "The cat <marquee>sat</marquee> on the mat"


class Elements(HTMLParser):
    def __init__(self, document: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.feed(document)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))

    def count(self, tag: str, attribute: str) -> int:
        return sum(1 for t, attrs in self.found if t == tag and attribute in attrs)


def test_each_page_draws_and_holds_its_cells(exported: Exported, tmp_path: Path) -> None:
    model = potatogpt.load(exported.folder("tiny-vocab"))
    ids = model.tokenizer.encode(TEXT)
    n, n_layer = len(ids), model.config.n_layer
    settings = [Setting(1.0), Setting(1.0, top_p=0.5)]
    # (section, the element and attribute each cell has, how many cells the DOM must hold)
    expected = [
        (instruments.explain_tokens(model.tokenizer, TEXT).section(), "span", "data-id", n),
        (instruments.trace(model, ids).section(), "div", "data-stage", None),
        (instruments.attention_patterns(model, ids).section(layer=1, head=1), "rect", "data-v", n * (n + 1) // 2),
        (instruments.lens_grid(model, ids).section(), "td", "data-p", (n_layer + 1) * n),
        (instruments.score(model, TEXT).section(), "span", "data-logp", n),
        (instruments.sampling_lab(model.next_token_logits(ids), settings, 20, 0, tokenizer=model.tokenizer).section(rows=6),
         "rect", "data-v", 6 * len(settings)),
    ]
    sections = [section for section, *_ in expected]
    for section, tag, attribute, cells in [*expected, (None, "section", "id", len(sections))]:
        name = section.anchor if section else "report"
        page = pages.write_page(tmp_path / f"{name}.html", pages.standalone(section, TEXT) if section
                                else pages.report(TEXT, sections))
        dom = Elements(dump_dom(page))
        assert not any(t in ("script", "marquee") for t, _ in dom.found)  # the token text stayed text
        found = dom.count(tag, attribute)
        assert found == cells if cells is not None else found > 10, f"{name}: {found} <{tag} {attribute}> in the DOM"
        png = tmp_path / f"{name}.png"
        screenshot(page, png, 900, 700)
        colours = distinct_colours(png.read_bytes())
        assert colours > 20, f"{name}: the screenshot has {colours} colours: blank?"
