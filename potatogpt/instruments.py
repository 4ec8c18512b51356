"""Look inside GPT-2 while it runs: the data behind `python -m potatogpt trace|tokens|score|...`.

One mechanism serves every instrument that needs the model's insides: `record()`.  While it is
active, the stage functions of model.py (`embed`, `layer_norm`, `linear`, ..., `gpt2`) are
replaced by wrappers that note each call's arguments and result, then call the real function.
model.py's functions call each other through the module's globals, so the forward pass runs
through the wrappers without knowing it; on leaving the `with` block the originals are put back.
Nothing in model.py changes, and with no recording the forward pass is exactly what it was:
instruments cost nothing when they are off.

Recording swaps module-level functions, so it is per process and not thread-safe: don't run a
forward pass in another thread while one is being recorded (worker processes of --jobs only
multiply matrices, which is not a recorded stage, so they are no concern).

The instruments (look.py turns each into text):
    trace(model, ids)              every stage of a prompt pass and one cached decode step, with
                                   the shapes and the brands of model.py's own type annotations
    explain_tokens(tokenizer, text)  the tokenizer's steps: bytes, pre-tokens, merges, ids
    GPT2.score(ids) (api.py)       per-token log-probabilities
    attention_patterns(model, ids) every head's attention weights
    logit_lens(model, ids)         the next-token guesses read off after every block
    sampling_lab(logits, settings, draws, seed)  many seeded draws under several settings
    score(model, ids)              per-token log-probabilities with the model's top guesses
    lens_grid(model, ids)          the logit lens at every position

What they return shows itself as a picture in Jupyter (`_repr_html_`, drawn by potatogpt/pages/),
and `.section()` is the same picture for a page of its own (pages.standalone) or the report.
"""

from __future__ import annotations

import inspect
import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, is_dataclass
from typing import NewType, TypeVar, cast, get_args, get_origin, get_type_hints

from . import model as gpt2_model
from . import pages
from .api import GPT2, ContextError
from .model import KVCache, Params
from .model import Linear
from .sampling import Sampler, argmax, log_softmax, sample_from, softmax, top_k_candidates
from .tensor import ONE, Ctx, Embed, One, Seq, Tensor, Vocab, take_rows
from . import tensor
from .tokenizer import BYTE_TO_UNICODE, Tokenizer, merge_steps, pre_tokenize

# model.py's forward pass, outermost first: every function a trace shows.
STAGES = ("gpt2", "hidden_states", "embed", "transformer_block", "layer_norm", "mha", "ffn", "linear",
          "gelu", "attention", "attention_weights", "lm_head")


# --- Recording ----------------------------------------------------------------------------------
@dataclass
class Call:
    """One call of a model.py stage: its arguments by parameter name, its result, and the
    recorded calls it made (a tree, like the call stack)."""

    stage: str
    args: dict[str, object]
    result: object = None
    inner: list[Call] = field(default_factory=list)
    # The shapes of the arguments and the result ("return") at the time of the call: the KV
    # cache's keys and values are passed as Weights that keep growing after the call returns.
    shapes: dict[str, tuple[int, int]] = field(default_factory=dict)


def shapes_of(values: dict[str, object]) -> dict[str, tuple[int, int]]:
    return {name: shape for name, value in values.items()
            if isinstance(shape := getattr(value, "shape", None), tuple)}


@contextmanager
def record(stages: Sequence[str] = STAGES) -> Iterator[list[Call]]:
    """Record every call of the named model.py functions made inside the `with` block.

        with record(["transformer_block"]) as calls:
            model.next_token_logits(ids)
        after_each_block = [call.result for call in calls]

    Yields the list of outermost calls, filled in as the forward pass runs.  A call made inside
    another recorded call is in that call's `inner` list (unrecorded stages in between are
    skipped over).
    """
    outermost: list[Call] = []
    open_calls: list[Call] = []

    def recording(stage: str, function: Callable[..., object]) -> Callable[..., object]:
        signature = inspect.signature(function)

        def recorded(*args: object, **kwargs: object) -> object:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()  # (so that every parameter has a value to show)
            call = Call(stage, dict(bound.arguments))
            call.shapes = shapes_of(call.args)
            (open_calls[-1].inner if open_calls else outermost).append(call)
            open_calls.append(call)
            try:
                call.result = function(*args, **kwargs)
            finally:
                open_calls.pop()
            call.shapes.update(shapes_of({"return": call.result}))
            return call.result

        return recorded

    originals: dict[str, Callable[..., object]] = {stage: getattr(gpt2_model, stage) for stage in stages}
    try:
        for stage, function in originals.items():
            setattr(gpt2_model, stage, recording(stage, function))
        yield outermost
    finally:
        for stage, function in originals.items():
            setattr(gpt2_model, stage, function)


# --- Trace: shapes, with the brands from model.py's annotations ---------------------------------
# A type annotation as typing.get_type_hints returns it: a class, a NewType such as Seq, a TypeVar,
# or a generic alias such as Tensor[Seq, Embed].
Hint = object


@dataclass
class Pass:
    """One recorded forward pass: the ids it fed from position `start` on, and its calls."""

    name: str  # "prompt pass" or "decode step"
    ids: list[int]
    start: int
    calls: list[Call]
    types: dict[int, dict[str, Hint]]  # id(call) -> parameter name (or "return") -> its type


class Trace(list[Pass]):
    """What trace() returns: the prompt pass and the decode step (a list of two Passes)."""

    def __init__(self, passes: Sequence[Pass], tokenizer: Tokenizer) -> None:
        super().__init__(passes)
        self.tokenizer = tokenizer

    def section(self) -> pages.Section:
        return pages.trace_section([pass_view(p) for p in self], self.tokenizer)

    def _repr_html_(self) -> str:
        return pages.fragment_of(self.section())


def trace(model: GPT2, text_or_ids: str | Sequence[int]) -> Trace:
    """Record the prompt pass over the text's ids, then one decode step (the greedy next token, fed
    through the KV cache), with every stage's argument and result types."""
    ids = token_ids(model, text_or_ids)
    if not ids:
        raise ValueError("nothing to trace: give at least one token")
    if len(ids) + 1 > model.config.n_ctx:
        raise ContextError(f"{len(ids)} tokens and the decode step after them need {len(ids) + 1} positions, "
                           f"but the model's context is {model.config.n_ctx}")
    cache = model.new_kv_cache()
    prompt, logits = traced_pass("prompt pass", model, list(ids), cache)
    decode, _ = traced_pass("decode step", model, [argmax(logits.row(0))], cache)
    return Trace([prompt, decode], model.tokenizer)


def token_ids(model: GPT2, text_or_ids: str | Sequence[int]) -> list[int]:
    """A text's token ids (ids are taken as they are)."""
    return model.tokenizer.encode(text_or_ids) if isinstance(text_or_ids, str) else list(text_or_ids)


def traced_pass(name: str, model: GPT2, ids: list[int], cache: KVCache) -> tuple[Pass, Tensor[One, Vocab]]:
    start = cache.length
    with record() as calls:
        # Called through the module (not GPT2.forward), so that `gpt2` itself is recorded too.
        logits = gpt2_model.gpt2(ids, model.params, cache, model.config)
    return Pass(name, ids, start, calls, resolve_types(calls, model.params)), logits


def resolve_types(calls: list[Call], params: Params) -> dict[int, dict[str, Hint]]:
    """Each call's parameter and return annotations, with type variables filled in.

    `linear(x: Tensor[Seq, I], layer: Linear[I, O]) -> Tensor[Seq, O]` is generic: which brands
    I and O stand for depends on the call.  We learn them the way a type checker would, from
    what is known about the objects passed: a `Linear` in the parameters has the type its
    dataclass field declares (`Attention.c_attn: Linear[Embed, Qkv]`), and a tensor that some
    stage received or returned has that stage's annotated type (the x that `layer_norm` gets
    from `transformer_block` is a Tensor[Seq, Embed]).  Matching the two fills I = Embed,
    O = Qkv, and the result is a Tensor[Seq, Qkv].  Repeat until nothing new is learned; a
    variable nothing pins down stays a variable (and is shown as its name).
    """
    known = declared_types(params)
    every_call = list(walk(calls))
    annotations = {stage: get_type_hints(getattr(gpt2_model, stage)) for stage in {c.stage for c in every_call}}
    resolved: dict[int, dict[str, Hint]] = {}
    learning = True
    while learning:
        learning = False
        for call in every_call:
            values = {**call.args, "return": call.result}
            hints = annotations[call.stage]
            bindings: dict[TypeVar, Hint] = {}
            for name, hint in hints.items():
                if id(values[name]) in known:
                    unify(hint, known[id(values[name])], bindings)
            resolved[id(call)] = {name: substitute(hint, bindings) for name, hint in hints.items()}
            for name, hint in resolved[id(call)].items():
                if id(values[name]) not in known and not has_type_variables(hint):
                    known[id(values[name])] = hint
                    learning = True
    return resolved


def walk(calls: list[Call]) -> Iterator[Call]:
    for call in calls:
        yield call
        yield from walk(call.inner)


def declared_types(params: Params) -> dict[int, Hint]:
    """id(object) -> its declared type, for every object in the parameters, read from the
    dataclasses' field annotations (Params.h: list[Block], Block.attn: Attention, ...)."""
    known: dict[int, Hint] = {}

    def visit(value: object, hint: Hint) -> None:
        known[id(value)] = hint
        origin = get_origin(hint) or hint
        if origin is list:
            for item in cast(list[object], value):
                visit(item, get_args(hint)[0])
        elif isinstance(origin, type) and is_dataclass(origin):
            for name, field_hint in field_types(hint).items():
                visit(getattr(value, name), field_hint)

    visit(params, Params)
    return known


def field_types(hint: Hint) -> dict[str, Hint]:
    """A dataclass's field annotations, for one parametrization of it: for Linear[Embed, Qkv],
    {'weight': Weight[Embed, Qkv], 'bias': Tensor[One, Qkv]}."""
    origin = get_origin(hint) or hint
    parameters: tuple[TypeVar, ...] = getattr(origin, "__parameters__", ())
    bindings: dict[TypeVar, Hint] = dict(zip(parameters, get_args(hint)))
    annotations = get_type_hints(origin)
    return {f.name: substitute(annotations[f.name], bindings) for f in fields(cast(type, origin))}


def unify(pattern: Hint, actual: Hint, bindings: dict[TypeVar, Hint]) -> None:
    """Match an annotation against a known type, noting what each type variable stands for."""
    if isinstance(pattern, TypeVar):
        if not has_type_variables(actual):
            bindings.setdefault(pattern, actual)
    elif get_origin(pattern) is not None and get_origin(pattern) is get_origin(actual):
        for p, a in zip(get_args(pattern), get_args(actual)):
            unify(p, a, bindings)


def substitute(hint: Hint, bindings: dict[TypeVar, Hint]) -> Hint:
    """The annotation with the bound type variables replaced: Tensor[Seq, O] -> Tensor[Seq, Qkv]."""
    if isinstance(hint, TypeVar):
        return bindings.get(hint, hint)
    origin, args = get_origin(hint), get_args(hint)
    if origin is None or not args:
        return hint
    generic = cast(Callable[[tuple[Hint, ...]], Hint], origin.__class_getitem__)
    return generic(tuple(substitute(arg, bindings) for arg in args))


def has_type_variables(hint: Hint) -> bool:
    return isinstance(hint, TypeVar) or any(has_type_variables(arg) for arg in get_args(hint))


def type_name(hint: Hint) -> str:
    """How the code writes the type: 'Tensor[Seq, Embed]', 'Seq', 'R'."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is not None and args:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(type_name(arg) for arg in args)}]"
    return str(getattr(hint, "__name__", hint))


def pass_view(forward_pass: Pass) -> pages.PassView:
    """A pass as the trace's picture shows it: each call's operands and result as text."""

    def stage(call: Call) -> pages.Stage:
        types = forward_pass.types[id(call)]
        operands = tuple(shown for name, value in call.args.items()
                         if (shown := operand(name, value, types[name], call.shapes.get(name))) is not None)
        return pages.Stage(call.stage, operands, operand("return", call.result, types["return"], call.shapes.get("return")),
                           tuple(stage(inner) for inner in call.inner), product=call.stage == "linear")

    return pages.PassView(forward_pass.name, tuple(forward_pass.ids), forward_pass.start,
                          tuple(stage(call) for call in forward_pass.calls),
                          tuple((brand, tuple(sorted(sizes))) for brand, sizes in brand_sizes(forward_pass).items()))


def operand(name: str, value: object, hint: Hint, shape: tuple[int, int] | None) -> pages.Operand | None:
    """An argument as a trace shows it: a tensor as its type and its shape when called; ids and
    ints briefly; the rest (configs, caches, layer-norm parameters) not at all."""
    if shape is not None:
        return pages.Operand(f"{type_name(hint)} {shape}", is_tensor=True)
    if isinstance(value, Linear):  # the product's right operand is the layer's weight
        return operand(name, value.weight, field_types(hint)["weight"], value.weight.shape)
    if isinstance(value, int) and not isinstance(value, bool):
        return pages.Operand(f"{name}={value}")
    if isinstance(value, (list, tuple)):
        return pages.Operand(f"{len(value)} id{'s' * (len(value) != 1)}")
    return None


def brand_sizes(forward_pass: Pass) -> dict[str, set[int]]:
    """What each brand stood for in this pass, read off the shapes: {'Seq': {5}, 'Embed': {768}, ...},
    in the order tensor.py defines (and explains) the brands."""
    sizes: dict[str, set[int]] = {}
    for call in walk(forward_pass.calls):
        for name, shape in call.shapes.items():
            for brand, size in zip(get_args(forward_pass.types[id(call)][name]), shape):
                if not isinstance(brand, TypeVar):
                    sizes.setdefault(type_name(brand), set()).add(size)
    order = [name for name, value in vars(tensor).items() if isinstance(value, NewType)]
    return {brand: sizes[brand] for brand in order if brand in sizes}


# --- Tokenizer explainer ------------------------------------------------------------------------
@dataclass
class WordMerges:
    """One pre-token: its byte symbols, each merge BPE makes in it, the tokens it ends as."""

    text: str
    symbols: list[str]
    merges: list[tuple[int, tuple[str, str], list[str]]]  # (rank, pair, parts after the merge)
    ids: list[int]

    @property
    def tokens(self) -> list[str]:
        """The pieces the merges leave: one per token id."""
        return self.merges[-1][2] if self.merges else self.symbols


class TokenSteps(list[WordMerges]):
    """What explain_tokens() returns: one WordMerges per pre-token."""

    def __init__(self, words: Sequence[WordMerges], tokenizer: Tokenizer) -> None:
        super().__init__(words)
        self.tokenizer = tokenizer

    def section(self) -> pages.Section:
        return pages.tokens_section(self, self.tokenizer)

    def _repr_html_(self) -> str:
        return pages.fragment_of(self.section())


def explain_tokens(tokenizer: Tokenizer, text: str) -> TokenSteps:
    """The tokenizer's steps for `text`, word by word (see tokenizer.py's docstring)."""
    # What encode() reads: a lone surrogate (from bytes that were not UTF-8, say) becomes U+FFFD.
    text = tokenizer.decode(tokenizer.encode(text))
    words = []
    for word in pre_tokenize(text):
        symbols = [BYTE_TO_UNICODE[b] for b in word.encode("utf-8")]
        words.append(WordMerges(word, symbols, list(merge_steps(tokenizer, word)), tokenizer.encode(word)))
    return TokenSteps(words, tokenizer)


# --- Attention and the logit lens ---------------------------------------------------------------
class AttentionPatterns(list[list[Tensor[Seq, Ctx]]]):
    """What attention_patterns() returns: patterns[layer][head], and the ids they are for."""

    def __init__(self, patterns: Sequence[list[Tensor[Seq, Ctx]]], ids: Sequence[int], tokenizer: Tokenizer) -> None:
        super().__init__(patterns)
        self.ids = list(ids)
        self.tokenizer = tokenizer

    def section(self, layer: int = 0, head: int = 0, top: int = 3) -> pages.Section:
        """Every head small, head `head` of layer `layer` large."""
        return pages.attention_section(self, self.ids, self.tokenizer, layer=layer, head=head, top=top)

    def _repr_html_(self) -> str:
        return pages.fragment_of(self.section())


def attention_patterns(model: GPT2, text_or_ids: str | Sequence[int]) -> AttentionPatterns:
    """patterns[layer][head]: row i is how much token i attends to each position 0 .. i
    (model.py's `attention_weights`, recorded during one forward pass)."""
    ids = token_ids(model, text_or_ids)
    with record(["transformer_block", "attention_weights"]) as blocks:
        model.next_token_logits(ids)
    return AttentionPatterns([[cast(Tensor[Seq, Ctx], head.result) for head in block.inner] for block in blocks],
                             ids, model.tokenizer)


@dataclass
class LensRow:
    """The residual stream at the last position after one stage, read as next-token logits."""

    label: str  # "embed", "block 0", ...
    residual: list[float]
    logits: list[float]


class LogitLens(list[LensRow]):
    """What logit_lens() returns: one LensRow per stage, and the ids they are for."""

    def __init__(self, rows: Sequence[LensRow], ids: Sequence[int], tokenizer: Tokenizer) -> None:
        super().__init__(rows)
        self.ids = list(ids)
        self.tokenizer = tokenizer

    def section(self, top: int = 5) -> pages.Section:
        """The last position's column of the lens grid (lens_grid draws every position)."""
        guesses = []
        for row in self:
            probs = softmax(row.logits)
            guesses.append([[(i, probs[i]) for i in top_k_candidates(probs, top)]])
        return pages.lens_section([row.label for row in self], self.ids, guesses, self.tokenizer,
                                  positions=[len(self.ids) - 1])

    def _repr_html_(self) -> str:
        return pages.fragment_of(self.section())


def logit_lens(model: GPT2, text_or_ids: str | Sequence[int]) -> LogitLens:
    """After the embeddings and after every block, the last position's residual stream put
    through the final layer norm and the tied output layer (`lm_head`), as if the model stopped
    there.  The last row is the model's real output."""
    ids = token_ids(model, text_or_ids)
    with record(["embed", "transformer_block"]) as stages:
        model.next_token_logits(ids)
    rows = []
    for index, stage in enumerate(stages):
        stream = cast(Tensor[Seq, Embed], stage.result)
        last = take_rows(stream, [stream.n_rows - 1], ONE)
        label = "embed" if stage.stage == "embed" else f"block {index - 1}"
        rows.append(LensRow(label, last.row(0), gpt2_model.lm_head(last, model.params, model.config).row(0)))
    return LogitLens(rows, ids, model.tokenizer)


@dataclass
class LensGrid:
    """The logit lens at every position: guesses[stage][position], the `top` likeliest next
    tokens there as (id, probability), most likely first."""

    labels: list[str]  # "embed", "block 0", ...
    ids: list[int]
    guesses: list[list[list[tuple[int, float]]]]
    tokenizer: Tokenizer

    def section(self) -> pages.Section:
        return pages.lens_section(self.labels, self.ids, self.guesses, self.tokenizer)

    def _repr_html_(self) -> str:
        return pages.fragment_of(self.section())


def lens_grid(model: GPT2, text_or_ids: str | Sequence[int], top: int = 3) -> LensGrid:
    """logit_lens at every position, not only the last: each stage's whole residual stream through
    `lm_head`.  (That is one output layer per stage and position: with 124M's 50257 x 768 output
    layer, several times the forward pass itself.)"""
    ids = token_ids(model, text_or_ids)
    with record(["embed", "transformer_block"]) as stages:
        model.next_token_logits(ids)
    labels, guesses = [], []
    for index, stage in enumerate(stages):
        logits = gpt2_model.lm_head(cast(Tensor[Seq, Embed], stage.result), model.params, model.config)
        labels.append("embed" if stage.stage == "embed" else f"block {index - 1}")
        row_guesses = []
        for row in logits.rows:
            probs = softmax(row)
            row_guesses.append([(i, probs[i]) for i in top_k_candidates(probs, top)])
        guesses.append(row_guesses)
    return LensGrid(labels, ids, guesses, model.tokenizer)


# --- Scores with the model's guesses ------------------------------------------------------------
@dataclass
class TokenScore:
    """One token of a scored text: the natural log of the probability the model gave it, and the
    model's own `top` guesses at that place as (id, probability)."""

    token: int
    log_prob: float
    guesses: list[tuple[int, float]]

    @property
    def probability(self) -> float:
        return math.exp(self.log_prob)

    @property
    def bits(self) -> float:
        """Its surprisal, -log2 p."""
        return -self.log_prob / math.log(2)


@dataclass
class Scores:
    """What score() returns: ids (the first only a condition), one TokenScore per later id."""

    ids: list[int]
    tokens: list[TokenScore]
    tokenizer: Tokenizer

    @property
    def mean_nll(self) -> float:
        """The mean negative log-likelihood in nats: the loss (cross-entropy) a trainer reports."""
        return -sum(t.log_prob for t in self.tokens) / len(self.tokens)

    @property
    def bits_per_token(self) -> float:
        return self.mean_nll / math.log(2)

    @property
    def perplexity(self) -> float:
        return math.exp(self.mean_nll)

    def section(self) -> pages.Section:
        return pages.score_section(self, self.tokenizer)

    def _repr_html_(self) -> str:
        return pages.fragment_of(self.section())


def score(model: GPT2, text_or_ids: str | Sequence[int], top: int = 3) -> Scores:
    """GPT2.score with the model's `top` guesses at every position.  A text is scored after
    <|endoftext|>, GPT-2's start of a document (ids are taken as they are: give that first)."""
    ids = [model.tokenizer.eot_id, *model.tokenizer.encode(text_or_ids)] if isinstance(text_or_ids, str) else list(text_or_ids)
    if len(ids) < 2:
        raise ValueError("scoring needs at least two tokens: the first is only ever a condition")
    tokens = []
    for row, token in zip(model.logits(ids[:-1]), ids[1:]):  # (as GPT2.score computes it)
        log_probs = log_softmax(row)
        tokens.append(TokenScore(token, log_probs[token],
                                 [(i, math.exp(log_probs[i])) for i in top_k_candidates(log_probs, top)]))
    return Scores(ids, tokens, model.tokenizer)


# --- Sampling lab -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    """One way to decode: a temperature (0 = greedy) and optional top-k and top-p."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    @property
    def label(self) -> str:
        parts = [f"T={self.temperature:g}"]
        if self.top_k is not None:
            parts.append(f"k={self.top_k}")
        if self.top_p is not None:
            parts.append(f"p={self.top_p:g}")
        return " ".join(parts)


@dataclass
class LabColumn:
    setting: Setting
    probs: list[float]  # the probabilities at the setting's temperature
    candidates: Sequence[int]  # the tokens a draw may pick (their number is the nucleus size, with top-p)
    counts: Counter[int]  # token id -> how often it was drawn


class SamplingLab(list[LabColumn]):
    """What sampling_lab() returns: one LabColumn per setting."""

    def __init__(self, columns: Sequence[LabColumn], draws: int, seed: int, tokenizer: Tokenizer | None) -> None:
        super().__init__(columns)
        self.draws = draws
        self.seed = seed
        self.tokenizer = tokenizer

    def section(self, after: str = "", rows: int = 12) -> pages.Section:
        """`after`: the text the logits came after, for the caption; `rows`: tokens per chart."""
        return pages.sample_section(self, self.tokenizer, draws=self.draws, seed=self.seed, after=after, rows=rows)

    def _repr_html_(self) -> str:
        return pages.fragment_of(self.section())


def sampling_lab(logits: Sequence[float], settings: Sequence[Setting], draws: int, seed: int, *,
                 tokenizer: Tokenizer | None = None) -> SamplingLab:
    """`draws` seeded draws from the same logits under each setting: exactly the tokens that
    `draws` calls of Sampler(..., seed=seed).choose(logits) would give, without recomputing
    the probabilities every time.  (The tokenizer only names the tokens in the picture.)"""
    columns = []
    for setting in settings:
        sampler = Sampler(setting.temperature, setting.top_k, setting.top_p, seed)
        probs, candidates = sampler.distribution(logits)
        counts = Counter(sample_from(probs, candidates, sampler.rng) for _ in range(draws))
        columns.append(LabColumn(setting, probs, candidates, counts))
    return SamplingLab(columns, draws, seed, tokenizer)


def rank_of(logits: Sequence[float], token: int) -> tuple[int, float]:
    """Where `token` stands among all tokens (1 = the most likely), and its probability at T = 1."""
    probs = softmax(logits)
    return 1 + sum(p > probs[token] for p in probs), probs[token]

