"""The HTML building blocks every instrument's page is made of.

A colour scale, a heat map, a strip of tokens, a table, a bar chart, a legend and the page around
them.  Everything is inline (SVG for the pictures, one <style> for the looks): a page needs
nothing but a browser, makes no network request, and reads the same with JavaScript off.  A cell's
exact number is in its tooltip (SVG <title>, shown by the browser itself) and in a data-* attribute.

Text is escaped exactly once, here: a plain `str` is always escaped when it is put into a page;
only an `Html` (a str subclass made by these functions) goes in as it is.  Token text is hostile
input (a token may be `<script>`, a quote, a control character or half of a UTF-8 sequence), so
`token_text` also makes every invisible or direction-changing character visible.
"""

from __future__ import annotations

import html
import math
import unicodedata
from collections.abc import Callable, Iterable, Sequence


class Html(str):
    """A piece of markup that is already safe: put into a page as it is, never escaped again."""


def escape(text: object) -> Html:
    """Text as HTML: `Html` as it is, anything else as its str with <, >, &, quotes escaped and
    lone surrogates (which no UTF-8 file can hold) replaced by U+FFFD."""
    if isinstance(text, Html):
        return text
    value = str(text).encode("utf-8", "replace").decode("utf-8")  # (a lone surrogate becomes '?')
    return Html(html.escape(value, quote=True))


def join(parts: Iterable[str]) -> Html:
    return Html("".join(escape(part) for part in parts))


def tag(name: str, *content: object, **attributes: object) -> Html:
    """<name attr="value">content</name>, every attribute value and every plain-str content escaped.
    A trailing underscore is dropped from an attribute name (class_ -> class), and other
    underscores become dashes (data_w -> data-w)."""
    attrs = "".join(f' {key.rstrip("_").replace("_", "-")}="{escape(value)}"'
                    for key, value in attributes.items() if value is not None)
    return Html(f"<{name}{attrs}>{join(map(str_or_html, content))}</{name}>")


def str_or_html(value: object) -> str:
    return value if isinstance(value, str) else str(value)


# --- Token text ---------------------------------------------------------------------------------
# Characters that change how the text around them is laid out or read, shown as their code instead.
BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
SHOWN_AS = {"\n": "↵", "\t": "⇥", "\r": "␍"}


def token_text(data: bytes) -> str:
    """A token's bytes as text a page can show: UTF-8 where they are UTF-8, U+FFFD (�) for bytes
    that are only part of a character, control and direction characters as their code (\\x07,
    \\u202e), a newline as ↵ and a tab as ⇥.  (Still a plain str: escape it like any text.)"""
    return visible(data.decode("utf-8", "replace"))


def visible(text: str) -> str:
    shown = []
    for char in text:
        category = unicodedata.category(char)
        if char in SHOWN_AS:
            shown.append(SHOWN_AS[char])
        elif category in ("Cc", "Cs") or char in BIDI_CONTROLS or char in "\u2028\u2029":
            shown.append(f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
        else:
            shown.append(char)
    return "".join(shown)


def axis_label(text: str, limit: int = 12) -> str:
    """A token as a row or column label: spaces shown as ␣ (a label cannot show a leading space),
    cut to `limit` characters."""
    label = text.replace(" ", "␣")
    return label if len(label) <= limit else label[: limit - 1] + "…"


# --- The colour scale ---------------------------------------------------------------------------
# ColorBrewer's single-hue "Blues": lightness falls steadily from paper white to navy, so the order
# of the shades survives greyscale printing, a washed-out projector and every kind of colour
# blindness (it never asks anyone to tell red from green).
SCALE = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b")
# A second, separate hue for "not part of the scale": positions a token cannot see, tokens outside
# the nucleus.
MASKED = "#e4e4e4"
MARK = "#d95f02"  # an accent (the nucleus boundary, the actual next token), distinct from blue in greyscale too


def shade(value: float) -> str:
    """The scale's colour for a value in [0, 1] (clamped; NaN is the lightest): #rrggbb."""
    if not value > 0:
        return SCALE[0]
    position = min(value, 1.0) * (len(SCALE) - 1)
    low = min(int(position), len(SCALE) - 2)
    t = position - low
    a, b = (tuple(int(colour[k : k + 2], 16) for k in (1, 3, 5)) for colour in (SCALE[low], SCALE[low + 1]))
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b))


def ink(value: float) -> str:
    """Text colour that reads on shade(value): black on the light half, white on the dark half."""
    return "#ffffff" if value > 0.62 else "#000000"


def fraction(value: float, low: float, high: float) -> float:
    """Where value lies between low and high, as 0 .. 1 (0.5 when they are equal)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return 0.5
    return min(1.0, max(0.0, (value - low) / (high - low)))


def legend(title: str, low: str, high: str, *, steps: int = 9) -> Html:
    """The colour scale as a row of swatches from `low` to `high`, with its title: every chart has one."""
    width, height = 36, 22
    swatches = "".join(f'<rect x="{k * width}" y="0" width="{width}" height="{height}" fill="{shade(k / (steps - 1))}" '
                       f'stroke="#555" stroke-width="0.5"/>' for k in range(steps))
    svg = Html(f'<svg class="scale" width="{steps * width}" height="{height}" viewBox="0 0 {steps * width} {height}" '
               f'role="img" aria-label="{escape(f"{title}: light is {low}, dark is {high}")}">{swatches}</svg>')
    return tag("div", tag("span", title, class_="legend-title"), " ", tag("span", low), " ", svg, " ",
               tag("span", high), class_="legend")


def swatch(colour: str, label: str, *, border: str = "#555") -> Html:
    """One colour in a legend that is not the scale (masked positions, the nucleus)."""
    box = Html(f'<svg width="22" height="22" viewBox="0 0 22 22"><rect x="1" y="1" width="20" height="20" '
               f'fill="{escape(colour)}" stroke="{escape(border)}" stroke-width="2"/></svg>')
    return tag("span", box, " ", label, class_="swatch")


# --- Heat map -----------------------------------------------------------------------------------
def heat_map(values: Sequence[Sequence[float]], *, row_labels: Sequence[str] = (), col_labels: Sequence[str] = (),
             cell: int = 30, low: float = 0.0, high: float = 1.0, causal: bool = False,
             tooltip: Callable[[int, int, float], str] | None = None, label: str = "heat map",
             data: bool = False) -> Html:
    """A matrix as an SVG grid of shaded cells, row i from the top, column j from the left.

    `low` .. `high` is the range the scale spans.  With `causal`, cells above the diagonal
    (j > i) are positions row i cannot see: grey and crossed out, with the triangle's edge drawn.
    `tooltip(i, j, value)` gives each cell a hover text; `data` puts each value, exactly, in a
    data-v attribute (and the row and column in data-i, data-j).  Without labels, tooltips or
    data, a cell costs a few bytes: small multiples of many heads stay small.
    """
    n_rows = len(values)
    n_cols = max((len(row) for row in values), default=0)
    font = max(10, min(18, cell * 0.55))
    left = int(max((len(text) for text in row_labels), default=0) * font * 0.62) + (8 if row_labels else 0)
    top = int(max((len(text) for text in col_labels), default=0) * font * 0.5) + (12 if col_labels else 0)
    width, height = left + n_cols * cell + 2, top + n_rows * cell + 2
    parts: list[str] = [f'<svg class="heat" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
                        f'role="img" aria-label="{escape(label)}">']
    masked: list[str] = []
    for i, row in enumerate(values):
        for j in range(n_cols):
            x, y = left + j * cell, top + i * cell
            if causal and j > i or j >= len(row):
                masked.append(f"M{x} {y}h{cell}v{cell}h{-cell}z")
                continue
            value = row[j]
            attributes = f' data-i="{i}" data-j="{j}" data-v="{value!r}"' if data else ""
            hover = f"<title>{escape(tooltip(i, j, value))}</title>" if tooltip else ""
            colour = shade(fraction(value, low, high))
            if hover or attributes:
                parts.append(f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{colour}"{attributes}>{hover}</rect>')
            else:
                parts.append(f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{colour}"/>')
    if masked:
        cross = "".join(f"M{left + j * cell} {top + i * cell + cell}l{cell} {-cell}"
                        for i in range(n_rows) for j in range(n_cols) if j > i) if cell >= 12 else ""
        parts.append(f'<path class="masked" d="{"".join(masked)}" fill="{MASKED}"/>')
        if cross:
            parts.append(f'<path d="{cross}" stroke="#b0b0b0" stroke-width="1"/>')
    if causal and n_rows:
        # The staircase edge of what each row can see.
        steps = "".join(f"h{cell}v{cell}" for _ in range(min(n_rows, n_cols)))
        parts.append(f'<path d="M{left} {top}{steps}" fill="none" stroke="#333" stroke-width="{1.5 if cell >= 12 else 0.8}"/>')
    parts.append(f'<rect x="{left}" y="{top}" width="{n_cols * cell}" height="{n_rows * cell}" fill="none" '
                 f'stroke="#333" stroke-width="1"/>')
    for i, text in enumerate(row_labels):
        parts.append(f'<text x="{left - 6}" y="{top + i * cell + cell / 2}" font-size="{font:g}" text-anchor="end" '
                     f'dominant-baseline="central" class="mono">{escape(text)}</text>')
    for j, text in enumerate(col_labels):
        cx, cy = left + j * cell + cell / 2, top - 6
        parts.append(f'<text x="{cx:g}" y="{cy}" font-size="{font:g}" transform="rotate(-60 {cx:g} {cy})" '
                     f'class="mono">{escape(text)}</text>')
    parts.append("</svg>")
    return Html("".join(parts))


# --- Tokens, tables, bars -----------------------------------------------------------------------
def token_span(text: str, *, colour: str, note: str = "", tooltip: str = "", text_colour: str = "#000000",
               **data: object) -> Html:
    """One token as a coloured box holding its text (spaces kept) and, below it, a small note (its id)."""
    shown = text if text else "∅"
    inner = tag("span", shown, class_="t") + (tag("small", note) if note else "")
    return tag("span", Html(inner), class_="tok", style=f"background:{colour};color:{text_colour}",
               title=tooltip or None, **data)


def token_strip(spans: Sequence[Html]) -> Html:
    return tag("div", Html("".join(spans)), class_="strip")


# Pastel colours for telling neighbouring tokens apart (tiktokenizer's idea); each token also has a
# border, so the cut is visible with no colour at all.
TOKEN_COLOURS = ("#fde0b2", "#cfe3f7", "#d9f0d3", "#eadcf2", "#fbe2ea", "#e8e3cf")


def table(header: Sequence[str], rows: Iterable[Sequence[object]], *, numeric: Sequence[int] = (),
          caption: str = "", class_: str = "") -> Html:
    """A table: `numeric` are the column indices to right-align; cells are text or Html."""
    head = "".join(tag("th", text, scope="col") for text in header)
    body = "".join(
        "<tr>" + "".join(tag("td", cell, class_="num" if k in numeric else None) for k, cell in enumerate(row)) + "</tr>"
        for row in rows)
    return Html(f'<table class="{escape(class_)}">' + (tag("caption", caption) if caption else "")
                + f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def bar_chart(bars: Sequence[tuple[str, float, bool, str]], *, scale_max: float, label: str,
              boundary_after: int | None = None, boundary_label: str = "") -> Html:
    """Horizontal bars, one per (label, value, filled, note), longest = scale_max.  A filled bar
    is dark blue; an unfilled one is grey with a dark outline (in greyscale too: light vs dark).
    `boundary_after=k` draws a line under the k-th bar, labelled `boundary_label` (the nucleus)."""
    row, label_width, bar_width, note_width = 30, 190, 300, 150
    width, height = label_width + bar_width + note_width, row * len(bars) + 8
    parts = [f'<svg class="bars" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(label)}">']
    for k, (text, value, filled, note) in enumerate(bars):
        y = 4 + k * row
        length = bar_width * fraction(value, 0.0, scale_max) if scale_max > 0 else 0.0
        fill = SCALE[7] if filled else MASKED
        parts.append(f'<text x="{label_width - 8}" y="{y + row / 2}" text-anchor="end" dominant-baseline="central" '
                     f'font-size="17" class="mono">{escape(text)}</text>')
        parts.append(f'<rect x="{label_width}" y="{y + 3}" width="{max(length, 1.5):.1f}" height="{row - 6}" '
                     f'fill="{fill}" stroke="#222" stroke-width="{0 if filled else 1}" data-v="{value!r}">'
                     f'<title>{escape(f"{text}: {note}")}</title></rect>')
        parts.append(f'<text x="{label_width + bar_width + 8}" y="{y + row / 2}" dominant-baseline="central" '
                     f'font-size="16">{escape(note)}</text>')
    if boundary_after is not None and 0 < boundary_after <= len(bars):
        y = 4 + boundary_after * row
        parts.append(f'<line x1="0" x2="{width}" y1="{y}" y2="{y}" stroke="{MARK}" stroke-width="3" '
                     f'stroke-dasharray="8 4"/>')
        parts.append(f'<text x="{label_width}" y="{y - 3}" font-size="14" fill="{MARK}" font-weight="bold" '
                     f'text-anchor="end">{escape(boundary_label)}</text>')
    parts.append("</svg>")
    return Html("".join(parts))


# --- The page -----------------------------------------------------------------------------------
# Scoped under .pg, so that the same rules work in a page of its own and inside a Jupyter cell.
STYLE = """
.pg{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;font-size:20px;
 line-height:1.45;color:#111;background:#fff;max-width:80em;margin:0 auto;padding:.5em 1em}
.pg *{-webkit-print-color-adjust:exact;print-color-adjust:exact;box-sizing:border-box}
.pg h1{font-size:1.7em;margin:.3em 0}.pg h2{font-size:1.35em;border-bottom:3px solid #08306b;margin-top:1.6em}
.pg h3{font-size:1.1em;margin:1em 0 .3em}
.pg .mono,.pg code,.pg .t{font-family:"DejaVu Sans Mono",Menlo,Consolas,"Liberation Mono",monospace}
.pg p.lead{font-size:1.05em;max-width:48em}.pg .note{color:#333;font-size:.85em;max-width:52em}
.pg table{border-collapse:collapse;margin:.5em 0}.pg caption{text-align:left;font-weight:bold;padding:.2em 0}
.pg th,.pg td{border:1px solid #888;padding:.15em .5em;vertical-align:top}.pg th{background:#eef3f8}
.pg td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.pg .strip{line-height:2.4;margin:.5em 0}
.pg .tok{display:inline-block;border:1.5px solid #333;border-radius:5px;padding:0 .2em;margin:.15em .1em;
 vertical-align:top;text-align:center;line-height:1.3}
.pg .tok .t{white-space:pre;font-size:1.05em}.pg .tok small{display:block;font-size:.62em;color:inherit;opacity:.85}
.pg .legend{margin:.4em 0;font-size:.85em}.pg .legend svg,.pg .swatch svg{vertical-align:middle}
.pg .legend-title{font-weight:bold}.pg .swatch{margin-right:1.2em;font-size:.85em}
.pg .heads{display:grid;grid-template-columns:auto repeat(var(--heads),auto);gap:.3em .6em;align-items:center;
 justify-content:start}.pg .heads .h{font-size:.8em;text-align:center}
.pg .grid td.g{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;white-space:pre;text-align:center}
.pg .grid td.hit{outline:4px solid #d95f02;outline-offset:-4px}
.pg .flow{margin:.3em 0 .3em 0}.pg .box{border:2px solid #08306b;border-radius:8px;padding:.3em .6em;margin:0;
 background:#f7fbff}.pg .box .box{background:#fff}.pg .box .box .box{background:#f7fbff}
.pg .stage{font-weight:bold;font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace}.pg .ops{font-size:.8em}
.pg .arrow{margin:0 0 0 1.2em;padding:.1em 0 .1em .8em;border-left:4px solid #2171b5;font-size:.8em;
 font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;color:#08306b}
.pg .arrow::before{content:"▼ ";color:#2171b5}
.pg .same{border:2px dashed #6baed6;border-radius:8px;padding:.2em .6em;color:#333;font-size:.85em}
.pg .columns{display:flex;flex-wrap:wrap;gap:1em 2em}
.pg nav ol{columns:2;font-size:1.05em}.pg .wide{overflow-x:auto}
@media print{.pg{font-size:12pt;max-width:none;padding:0}.pg .wide{overflow:visible}.pg h2{break-before:page}.pg h2.first{break-before:auto}
 .pg svg,.pg table,.pg .box{break-inside:avoid}}
"""


def fragment(body: Html) -> Html:
    """Markup for a Jupyter cell: the page's style (scoped to .pg) and the body, without <html>."""
    return Html(f'<div class="pg"><style>{STYLE}</style>{body}</div>')


def page(title: str, body: Html) -> Html:
    """A whole, self-contained HTML document (UTF-8, no external resource of any kind)."""
    return Html(
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # Forbid every fetch, so that a page that somehow held a reference could not load it either.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:\">"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n"
        f'<body style="margin:0;background:#fff"><main class="pg">{body}</main></body></html>\n'
    )
