"""One section per instrument, made of blocks.py's pieces; a page of one section, or the report of all.

These functions take what potatogpt/instruments.py returns, described here as Protocols (a
WordMerges, a LabColumn, a Tensor fit them as they are) or as the small dataclasses below, and show
its numbers as they are: nothing here computes a probability, a weight or a score.  This package
imports nothing from potatogpt, so that instruments.py and tensor.py can call it from their
`_repr_html_` methods without an import cycle.

    section = attention_section(patterns, ids, tokenizer, layer=5, head=1)
    write_page("attention.html", standalone(section))        # a page of its own (see save.py)
    write_page("report.html", report("The cat sat", [tokens_section(...), ...]))
    fragment_of(section)                                       # for a Jupyter cell
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from .blocks import (
    MARK,
    MASKED,
    TOKEN_COLOURS,
    Html,
    axis_label,
    bar_chart,
    fraction,
    fragment,
    heat_map,
    ink,
    legend,
    page,
    shade,
    swatch,
    table,
    tag,
    token_span,
    token_strip,
    token_text,
    visible,
)


# --- What the sections are given ----------------------------------------------------------------
class TokenDecoder(Protocol):
    """What turns token ids back into bytes: a potatogpt Tokenizer."""

    def decode_bytes(self, ids: Sequence[int]) -> bytes: ...


class Matrix(Protocol):
    """Rows of numbers: a potatogpt Tensor."""

    @property
    def rows(self) -> Sequence[Sequence[float]]: ...


class Word(Protocol):
    """One pre-token and its BPE merges: instruments.WordMerges."""

    @property
    def text(self) -> str: ...
    @property
    def symbols(self) -> Sequence[str]: ...
    @property
    def merges(self) -> Sequence[tuple[int, tuple[str, str], Sequence[str]]]: ...
    @property
    def ids(self) -> Sequence[int]: ...
    @property
    def tokens(self) -> Sequence[str]: ...


class ScoredToken(Protocol):
    """One scored token: instruments.TokenScore."""

    @property
    def token(self) -> int: ...
    @property
    def log_prob(self) -> float: ...
    @property
    def probability(self) -> float: ...
    @property
    def bits(self) -> float: ...
    @property
    def guesses(self) -> Sequence[tuple[int, float]]: ...


class Scores(Protocol):
    """A scored text: instruments.Scores."""

    @property
    def ids(self) -> Sequence[int]: ...
    @property
    def tokens(self) -> Sequence[ScoredToken]: ...
    @property
    def bits_per_token(self) -> float: ...
    @property
    def perplexity(self) -> float: ...
    @property
    def mean_nll(self) -> float: ...


class Setting(Protocol):
    @property
    def label(self) -> str: ...
    @property
    def top_k(self) -> int | None: ...
    @property
    def top_p(self) -> float | None: ...


class LabColumn(Protocol):
    """One setting of the sampling lab: instruments.LabColumn."""

    @property
    def setting(self) -> Setting: ...
    @property
    def probs(self) -> Sequence[float]: ...
    @property
    def candidates(self) -> Sequence[int]: ...
    @property
    def counts(self) -> Mapping[int, int]: ...


@dataclass(frozen=True)
class Operand:
    """An argument or result as the trace shows it: 'Tensor[Seq, Embed] (5, 8)', 'n_head=2', '5 ids'."""

    text: str
    is_tensor: bool = False


@dataclass(frozen=True)
class Stage:
    """One recorded call of a model.py stage, with the calls it made."""

    name: str
    operands: tuple[Operand, ...]
    result: Operand | None
    inner: tuple[Stage, ...] = ()
    product: bool = False  # linear: the operands are the two sides of x @ W


@dataclass(frozen=True)
class PassView:
    """One forward pass of a trace: its name, the token ids it fed from position `start`, its
    calls, and what each brand stood for (('Seq', (5,)), ('Embed', (8,)), ...)."""

    name: str
    ids: tuple[int, ...]
    start: int
    stages: tuple[Stage, ...]
    sizes: tuple[tuple[str, tuple[int, ...]], ...]


@dataclass(frozen=True)
class Section:
    """One instrument's part of a page: an anchor for the table of contents, a heading, the body."""

    anchor: str
    title: str
    body: Html


def token_texts(tokenizer: TokenDecoder | None, ids: Sequence[int]) -> list[str]:
    """Each token's text, shown safely (see blocks.token_text); '#id' without a tokenizer."""
    if tokenizer is None:
        return [f"#{i}" for i in ids]
    return [token_text(tokenizer.decode_bytes([i])) for i in ids]


def percent(p: float) -> str:
    """'12.3%', or '4.7e-05' for a probability too small to show that way (as the terminal shows it)."""
    return f"{p:.1%}" if p >= 0.001 else f"{p:.1e}"


def quoted(text: str) -> str:
    return f"“{text}”"


# --- Pages ----------------------------------------------------------------------------------------
def standalone(section: Section, subject: str = "") -> Html:
    """A page holding one section (`subject`: the text looked at, for the title)."""
    title = f"potatogpt {section.title}" + (f": {visible(subject)}" if subject else "")
    return page(title, Html(tag("h1", title) + section.body))


def report(text: str, sections: Sequence[Section]) -> Html:
    """The handout: every section for one text, with a table of contents."""
    title = f"GPT-2 from the inside: {quoted(visible(text))}"
    contents = tag("nav", tag("h2", "Contents", class_="first"),
                   tag("ol", Html("".join(tag("li", tag("a", s.title, href=f"#{s.anchor}")) for s in sections))))
    body = "".join(tag("section", tag("h2", s.title, id=s.anchor), s.body, id=f"section-{s.anchor}")
                   for s in sections)
    return page(title, Html(tag("h1", title) + contents + body))


def fragment_of(section: Section) -> Html:
    """The section for a Jupyter cell."""
    return fragment(Html(tag("h3", f"potatogpt {section.title}") + section.body))


# --- tokens ---------------------------------------------------------------------------------------
def tokens_section(words: Sequence[Word], tokenizer: TokenDecoder) -> Section:
    """The text cut into coloured tokens with their ids, then each word's BPE merges."""
    text = "".join(word.text for word in words)
    ids = [i for word in words for i in word.ids]
    texts = token_texts(tokenizer, ids)
    pieces = [piece for word in words for piece in word.tokens]
    spans = [token_span(shown, colour=TOKEN_COLOURS[k % len(TOKEN_COLOURS)], note=str(i),
                        tooltip=f"token {k}: id {i}, vocabulary piece {piece}", data_id=i, data_k=k)
             for k, (i, shown, piece) in enumerate(zip(ids, texts, pieces))]
    lead = tag("p", f"{len(text)} characters, {len(text.encode('utf-8', 'replace'))} bytes of UTF-8, "
               f"{len(words)} pre-tokenizer pieces, ", tag("b", f"{len(ids)} tokens"),
               ". Each box is one token: its text above, its id in the vocabulary below "
               "(↵ is a newline, � a byte that is only part of a character).", class_="lead")
    merges = []
    for word in words:
        rows: list[Sequence[object]] = [("", "", Html(parts_strip(word.symbols)))]
        for rank, (left, right), parts in word.merges:
            rows.append((rank, f"{visible(left)} + {visible(right)}", Html(parts_strip(parts, merged=left + right))))
        merges.append(table(("rank", "merge", "parts after it"), rows, numeric=(0,),
                            caption=f"{quoted(visible(word.text))}: {len(word.symbols)} byte symbols → "
                                    f"{len(word.ids)} token{'s' * (len(word.ids) != 1)} "
                                    f"({', '.join(map(str, word.ids))})", class_="merges"))
    explain = tag("p", "Each piece's bytes become GPT-2's printable symbols (the space byte is Ġ); then BPE "
                  "merges the adjacent pair it learned earliest (the lowest rank), again and again, until no "
                  "pair is a known merge. The highlighted part is the one just made.", class_="note")
    body = Html(lead + token_strip(spans) + tag("h3", "Merge steps, word by word") + explain
                + tag("div", Html("".join(merges)), class_="columns"))
    return Section("tokens", "tokens", body)


def parts_strip(parts: Sequence[str], merged: str | None = None) -> str:
    return "".join(token_span(visible(part), colour="#f5a05a" if part == merged else "#ffffff")
                   for part in parts)


# --- score ----------------------------------------------------------------------------------------
def score_section(scores: Scores, tokenizer: TokenDecoder, *, most_surprised: int = 5) -> Section:
    """The text with each token shaded by its surprisal; bits per token and perplexity; the model's
    top guesses where it was most surprised."""
    scored = list(scores.tokens)
    texts = token_texts(tokenizer, [s.token for s in scored])
    high = max(1.0, max((s.bits for s in scored), default=1.0))
    spans = [token_span(text, colour=shade(fraction(s.bits, 0.0, high)), text_colour=ink(fraction(s.bits, 0.0, high)),
                        note=f"{s.bits:.1f}", tooltip=f"position {k + 1}: p = {percent(s.probability)}, {s.bits:.2f} bits",
                        data_pos=k + 1, data_id=s.token, data_logp=repr(s.log_prob))
             for k, (s, text) in enumerate(zip(scored, texts))]
    headline = tag("p", tag("b", f"{scores.bits_per_token:.3f} bits per token", data_bits_per_token=repr(scores.bits_per_token)),
                   " on average over ", f"{len(scored)} tokens; ",
                   tag("b", f"perplexity {scores.perplexity:.2f}", data_perplexity=repr(scores.perplexity)),
                   f" (= exp of the mean negative log-likelihood, {scores.mean_nll:.4f} nats).", class_="lead")
    explain = tag("p", "Each token's surprisal is −log₂ of the probability the model gave it, knowing only the "
                  "tokens before it (the first is scored after <|endoftext|>, GPT-2's start of a document). "
                  "The number under a token is its surprisal in bits: darker is more surprising.", class_="note")
    worst = heapq.nlargest(most_surprised, range(len(scored)), key=lambda k: scored[k].bits)
    surprised = table(("pos", "token", "bits", "what the model expected (its top guesses)"),
                      [(k + 1, quoted(texts[k]), f"{scored[k].bits:.2f}",
                        ",  ".join(f"{quoted(t)} {percent(p)}" for t, p in
                                   zip(token_texts(tokenizer, [g for g, _ in scored[k].guesses]),
                                       [p for _, p in scored[k].guesses])))
                       for k in worst], numeric=(0, 2), caption="Where the model was most surprised")
    every = table(("pos", "token", "probability", "surprisal (bits)"),
                  [(k + 1, quoted(text), percent(s.probability), f"{s.bits:.2f}") for k, (s, text) in enumerate(zip(scored, texts))],
                  numeric=(0, 2, 3), caption="Every token")
    body = Html(headline + token_strip(spans) + legend("surprisal", "0 bits", f"{high:.1f} bits") + explain
                + surprised + every)
    return Section("score", "score", body)


# --- attention ------------------------------------------------------------------------------------
def attention_section(patterns: Sequence[Sequence[Matrix]], ids: Sequence[int], tokenizer: TokenDecoder | None,
                      *, layer: int = 0, head: int = 0, top: int = 3, strongest: int = 10) -> Section:
    """Every layer x head as a small heat map; one head (`layer`, `head`) large, with each token's
    strongest positions; the strongest links of all heads."""
    texts = token_texts(tokenizer, ids)
    labels = [f"{k} {axis_label(t)}" for k, t in enumerate(texts)]
    n = len(ids)
    n_head = max((len(heads) for heads in patterns), default=0)
    small = max(3, min(14, 150 // max(n, 1)))
    grid = [tag("div", "", class_="h")] + [tag("div", f"head {h}", class_="h") for h in range(n_head)]
    for l, heads in enumerate(patterns):
        grid.append(tag("div", f"layer {l}", class_="h"))
        for h, weights in enumerate(heads):
            mark = " selected" if (l, h) == (layer, head) else ""
            grid.append(tag("div", heat_map(weights.rows, cell=small, causal=True, label=f"layer {l} head {h}"),
                            class_=f"small{mark}", data_layer=l, data_head=h,
                            style="outline:4px solid #d95f02" if mark else None, title=f"layer {l}, head {h}"))
    overview = tag("div", Html("".join(grid)), class_="heads", style=f"--heads:{n_head}")
    chosen = patterns[layer][head].rows

    def hover(i: int, j: int, w: float) -> str:
        return f"{texts[i]!r} (query {i}) → {texts[j]!r} (key {j}): {w:.4f}"

    big_cell = max(16, min(44, 620 // max(n, 1)))
    big = heat_map(chosen, row_labels=labels, col_labels=labels, cell=big_cell, causal=True, tooltip=hover,
                   data=True, label=f"layer {layer} head {head}: attention weights")
    rows = []
    for i, row in enumerate(chosen):
        visible_row = list(row[: i + 1])
        best = heapq.nlargest(top, range(len(visible_row)), key=visible_row.__getitem__)
        rows.append((i, quoted(texts[i]), "   ".join(f"{j} {quoted(texts[j])} {row[j]:.3f}" for j in best)))
    per_token = table(("query", "token", f"its {top} strongest positions (key, weight)"), rows, numeric=(0,),
                      caption=f"Layer {layer}, head {head}: where each token looks")
    links = [(row[j], l, h, i, j) for l, heads in enumerate(patterns) for h, weights in enumerate(heads)
             for i, row in enumerate(weights.rows) if i >= 1 for j in range(i + 1)]
    top_links = heapq.nlargest(strongest, links)
    all_heads = table(("head", "query", "key", "weight"),
                      [(f"{l}.{h}", f"{i} {quoted(texts[i])}", f"{j} {quoted(texts[j])}", tag("span", f"{w:.3f}", data_w=repr(w)))
                       for w, l, h, i, j in top_links], numeric=(3,),
                      caption=f"The {len(top_links)} strongest weights of all heads (tokens 1 on: token 0 can only see itself)")
    explain = tag("p", "Row i is query token i; column j is key position j; a cell is how much of token i's "
                  "attention goes to position j (each row sums to 1). The crossed-out triangle is the future: "
                  "GPT-2 is causal, so a token sees only itself and the tokens before it.", class_="note")
    keys = tag("div", legend("attention weight", "0", "1"), swatch(MASKED, "a later position: cannot be seen"),
               swatch("#ffffff", "the head shown large", border=MARK))
    body = Html(explain + keys + tag("h3", f"Every head ({len(patterns)} layers × {n_head} heads)") + overview
                + tag("h3", f"Layer {layer}, head {head}") + tag("div", big, class_="big") + per_token + all_heads)
    return Section("attention", "attention", body)


# --- lens -----------------------------------------------------------------------------------------
LENS_FLOOR = 1e-4  # the lens's scale is logarithmic, from 0.01% (lightest) to 100% (darkest)


def lens_section(stages: Sequence[str], ids: Sequence[int], guesses: Sequence[Sequence[Sequence[tuple[int, float]]]],
                 tokenizer: TokenDecoder | None, *, positions: Sequence[int] | None = None) -> Section:
    """A stages x positions grid of the top guess for the next token, shaded by its probability.

    guesses[stage][k] holds the (token, probability) pairs, most likely first, read off the
    residual stream after that stage at position positions[k] (default: every position).  A cell
    whose guess is the text's real next token is outlined."""
    positions = list(range(len(ids))) if positions is None else list(positions)
    texts = token_texts(tokenizer, ids)
    header = [Html(tag("th", "after", scope="col"))] + [
        Html(tag("th", tag("span", str(p), class_="note"), Html("<br>"), quoted(texts[p]), scope="col", class_="mono"))
        for p in positions]
    body_rows = []
    for stage, row in zip(stages, guesses):
        cells = [tag("th", stage, scope="row")]
        for p, cell in zip(positions, row):
            if not cell:
                cells.append(tag("td", ""))
                continue
            token, prob = cell[0]
            level = fraction(math.log10(max(prob, LENS_FLOOR)), math.log10(LENS_FLOOR), 0.0)
            hit = p + 1 < len(ids) and ids[p + 1] == token
            guess_texts = token_texts(tokenizer, [t for t, _ in cell])
            tip = "  ".join(f"{quoted(t)} {percent(q)}" for t, (_, q) in zip(guess_texts, cell))
            cells.append(tag("td", axis_label(guess_texts[0], 10), Html("<br>"), tag("small", percent(prob)),
                             class_="g hit" if hit else "g", style=f"background:{shade(level)};color:{ink(level)}",
                             title=tip, data_stage=stage, data_pos=p, data_token=token, data_p=repr(prob)))
        body_rows.append("<tr>" + "".join(cells) + "</tr>")
    grid = Html('<div class="wide"><table class="grid"><thead><tr>' + "".join(header) + "</tr></thead><tbody>"
                + "".join(body_rows) + "</tbody></table></div>")
    explain = tag("p", "Column p: the token at position p, and below it the model's guess for the token after "
                  "it, read off the residual stream after each stage as if the model stopped there (the final "
                  "layer norm and the tied output layer: a logit lens). The last row is the model's real "
                  "output. Early stages read poorly through a plain logit lens: treat their guesses as a hint.",
                  class_="note")
    keys = tag("div", legend("probability of the top guess (log scale)", "0.01%", "100%"),
               swatch("#ffffff", "the guess is the text's real next token", border=MARK))
    return Section("lens", "logit lens", Html(explain + keys + grid))


# --- sample ---------------------------------------------------------------------------------------
def sample_section(columns: Sequence[LabColumn], tokenizer: TokenDecoder | None, *, draws: int, seed: int,
                   after: str = "", rows: int = 12) -> Section:
    """Per setting, a bar chart of its distribution (the `rows` likeliest tokens at its
    temperature, drawn counts beside), the tokens a draw may pick filled, the nucleus marked."""
    charts = []
    for column in columns:
        probs = column.probs
        listed = heapq.nlargest(rows, range(len(probs)), key=probs.__getitem__)
        candidates = set(column.candidates)
        texts = token_texts(tokenizer, listed)
        bars = [(axis_label(text, 16), probs[t], t in candidates, f"{percent(probs[t])} · drawn {column.counts.get(t, 0)}")
                for t, text in zip(listed, texts)]
        n_candidates = len(column.candidates)
        cut = n_candidates if n_candidates < len(listed) else None
        kind = "nucleus" if column.setting.top_p is not None else "top-k" if column.setting.top_k is not None else "candidates"
        chart = bar_chart(bars, scale_max=max((probs[t] for t in listed), default=1.0),
                          label=f"{column.setting.label}: distribution", boundary_after=cut,
                          boundary_label=f"{kind} ends: {n_candidates} tokens")
        others = sum(n for t, n in column.counts.items() if t not in listed)
        caption = tag("h3", column.setting.label)
        facts = tag("p", f"may draw from {n_candidates} token{'s' * (n_candidates != 1)}"
                    f"{' (the nucleus)' if column.setting.top_p is not None else ''}; "
                    f"{others} of {draws} draws fell on tokens not listed", class_="note",
                    data_candidates=n_candidates)
        charts.append(tag("figure", caption, chart, facts, class_="lab", data_setting=column.setting.label,
                          style="margin:0"))
    explain = tag("p", f"One forward pass{f' after {quoted(visible(after))}' if after else ''}, then {draws} seeded draws "
                  f"(seed {seed}) of the next token under each setting. Each bar is a token's probability at the "
                  "setting's temperature (the bars of one chart share its scale); dark bars are tokens a draw "
                  "may pick, grey ones were cut by top-k or top-p; the dashed line is where the cut falls.",
                  class_="note")
    keys = tag("div", swatch(shade(7 / 8), "may be drawn"), swatch(MASKED, "cut (outside top-k / the nucleus)"),
               swatch("#ffffff", "where the cut falls", border=MARK))
    return Section("sample", "sampling", Html(explain + keys + tag("div", Html("".join(charts)), class_="columns")))


# --- trace ----------------------------------------------------------------------------------------
UNITS = {"transformer_block": "block", "attention": "head"}  # repeated stages, and what each repeat is


def trace_section(passes: Sequence[PassView], tokenizer: TokenDecoder | None) -> Section:
    """Each forward pass as nested boxes of its stages, the branded shape that flows between two
    stages on the arrow between them."""
    parts = []
    for forward_pass in passes:
        n = len(forward_pass.ids)
        where = f"position {forward_pass.start}" if n == 1 else f"positions {forward_pass.start}–{forward_pass.start + n - 1}"
        words = " ".join(quoted(t) for t in token_texts(tokenizer, forward_pass.ids))
        parts.append(tag("h3", f"{forward_pass.name}: {words} at {where}"))
        parts.append(tag("p", f"The KV cache grows from {forward_pass.start} to {forward_pass.start + n} positions. Sizes: ",
                         tag("span", "  ".join(f"{brand}={'/'.join(map(str, sizes))}" for brand, sizes in forward_pass.sizes),
                             class_="mono"), class_="note"))
        parts.append(stages_flow(forward_pass.stages))
    explain = tag("p", "Every box is a function of model.py, called in this order; a box inside another is a call "
                  "it made. The arrows carry the tensors from stage to stage, labelled with their types as "
                  "model.py's annotations brand them (the ones mypy checks) and their actual shapes. Repeated "
                  "blocks and heads are drawn once.", class_="note")
    return Section("trace", "trace", Html(explain + "".join(parts)))


def stages_flow(stages: Sequence[Stage]) -> Html:
    out: list[str] = []
    seen: dict[str, int] = {}
    i = 0
    while i < len(stages):
        stage = stages[i]
        first = seen.get(stage.name, 0)
        repeats = 1
        while i + repeats < len(stages) and stages[i + repeats] == stage:
            repeats += 1
        unit = UNITS.get(stage.name)
        out.append(stage_box(stage, f"{unit} {first}" if unit else ""))
        if repeats > 1:
            name = unit or f"{stage.name} call"
            span = f"{name} {first + 1}" if repeats == 2 else f"{name}s {first + 1}–{first + repeats - 1}"
            out.append(tag("div", f"{span}: the same as {name} {first}", class_="same"))
        if stage.result is not None and i + repeats < len(stages):
            out.append(arrow(stage.result))
        seen[stage.name] = first + repeats
        i += repeats
    return tag("div", Html("".join(out)), class_="flow")


def arrow(operand: Operand) -> Html:
    return tag("div", operand.text, class_="arrow", data_shape=operand.text)


def stage_box(stage: Stage, unit: str) -> Html:
    joiner = " @ " if stage.product else ", "
    operands = joiner.join(o.text for o in stage.operands)
    result = f" → {stage.result.text}" if stage.result is not None else ""
    head = tag("div", tag("span", stage.name, class_="stage"), f"  ({unit})" if unit else "",
               " ", tag("span", f"{operands}{result}", class_="ops mono"))
    inner = ""
    if stage.inner:
        first_tensor = next((o for o in stage.operands if o.is_tensor), None)
        inner = (arrow(first_tensor) if first_tensor else "") + stages_flow(stage.inner)
        if stage.result is not None:
            inner += arrow(stage.result)
    return tag("div", head, Html(inner), class_="box", data_stage=stage.name)


# --- A tensor, for Jupyter ------------------------------------------------------------------------
TENSOR_CAP = 32  # rows and columns drawn at most; a larger tensor shows its top-left corner


def tensor_section(rows: Sequence[Sequence[float]], shape: tuple[int, int], kind: str = "Tensor") -> Section:
    """A tensor's shape and a heat map of its numbers (the first TENSOR_CAP rows and columns)."""
    n_rows, n_cols = shape
    shown = [list(row[:TENSOR_CAP]) for row in rows[:TENSOR_CAP]]
    values = [v for row in shown for v in row if math.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    corner = "" if n_rows <= TENSOR_CAP and n_cols <= TENSOR_CAP else \
        f": rows 0–{len(shown) - 1} and columns 0–{len(shown[0]) - 1 if shown else 0} drawn"
    cell = max(6, min(24, 480 // max(1, len(shown[0]) if shown else 1)))
    picture = heat_map(shown, cell=cell, low=low, high=high, label=f"{kind} {shape}",
                       tooltip=lambda i, j, v: f"[{i}, {j}] = {v!r}") if shown and shown[0] else Html("")
    facts = tag("p", tag("code", f"{kind}(shape={shape})"), f" — {n_rows} rows × {n_cols} columns{corner}. ",
                "(Its brands, such as Seq or Embed, are in its static type only: mypy knows them, the "
                "running program does not.)", class_="note")
    return Section("tensor", kind.lower(), Html(facts + picture + legend("value", f"{low:.3g}", f"{high:.3g}")))
