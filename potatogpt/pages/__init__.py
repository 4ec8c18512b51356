"""Pictures of the instruments: self-contained HTML pages, and the same for Jupyter.

Plumbing, not the reading path: nothing here is needed to understand GPT-2.  blocks.py has the
building blocks (a colour scale, heat maps, token strips, tables, bar charts, legends, the page);
views.py makes one Section per instrument from what potatogpt/instruments.py returns; save.py
writes a page to a file, whole or not at all.  This package imports nothing else of potatogpt,
so instruments.py and tensor.py can call it from their `_repr_html_` without an import cycle.
"""

from .blocks import Html
from .save import PageWriteError, write_page
from .views import (
    Operand,
    PassView,
    Section,
    Stage,
    attention_section,
    fragment_of,
    lens_section,
    report,
    sample_section,
    score_section,
    standalone,
    tokens_section,
    trace_section,
)

__all__ = [
    "Html",
    "Operand",
    "PageWriteError",
    "PassView",
    "Section",
    "Stage",
    "attention_section",
    "fragment_of",
    "lens_section",
    "report",
    "sample_section",
    "score_section",
    "standalone",
    "tokens_section",
    "trace_section",
    "write_page",
]
