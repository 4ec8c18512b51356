"""The backward pass: GPT-2's gradients, one function per stage of model.py, in the same order.

model.py computes the loss from the parameters stage by stage; this module walks the same stages
backwards with the chain rule.  Each `*_backward` takes d(loss)/d(its stage's output), written
`dy`, and returns d(loss)/d(its stage's input), `dx`; a stage with parameters also *adds* its
parameters' gradients into a gradient buffer of the same type (a `Linear[I, O]` for a
`Linear[I, O]`, a `Params` for the `Params`), as llm.c's `*_backward` functions do: a parameter
used more than once (the tied token embedding: looked up by `embed`, multiplied by in `lm_head`)
collects the sum of its gradients, and so does a batch of several rows.

The products follow one rule, written once in `product_backward`: for y = x @ W,
    dx = dy @ W^T        and        dW = x^T @ dy.
The types check it: dx must be a Tensor[Seq, I] and dW a Weight[I, O], and mypy rejects the
products taken the wrong way round (see examples/shape_errors.py).

Saving activations.  The backward pass needs what the forward pass computed (a layer's input for
its weight gradient, the attention weights, ...).  There is no second copy of the forward pass
here: model.py's own runs, inside `instruments.record()`, the recorder the instruments use.
While it is active every stage function of model.py is wrapped to note its arguments and result,
so one forward pass leaves a tree of `Call`s: `transformer_block`'s call holds, in its `inner`
list, the calls it made (`layer_norm`, `mha`, `layer_norm`, `ffn`), each with its inputs and its
output.  A composite stage's backward (`ffn_backward`, `mha_backward`, ...) receives its recorded
call and reads its inner calls in the order model.py made them; the small stages
(`gelu_backward`, `linear_backward`, ...) receive plain tensors.  Nothing is kept that model.py's
stages do not already receive or return: layer norm's mean and 1/std (which llm.c saves) are
recomputed from its input, one pass over each row, and GELU's slope from its input.

Training runs full sequences: each row of a batch goes through its own forward pass from
position 0 with a fresh KV cache, so attention's keys and values are exactly the row's tokens.
One row is recorded, differentiated and forgotten before the next, so memory holds the
activations of one row at a time.

Speed.  With parameters in the "reference" storage this module runs exactly as written, every
product by tensor.py's `matmul`.  With the default "exact" storage, train.py runs it inside
fast/training.py's fast_products(), which puts faster versions of `product_backward` and `accumulate` in
their place (the same numbers, to rounding; fast/training.py says how, tests check it).

Reading order: gradient buffers, the loss, then the stages from `gelu_backward` to
`lm_head_backward` (as model.py defines them), then `row_backward`, the whole network for one row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from operator import add
from typing import TypeVar, cast, overload

from . import model
from .config import GPT2Config
from .instruments import Call, record
from .model import MLP, Attention, Block, LayerNorm, Linear, Params
from .tensor import (
    ONE,
    Ctx,
    Embed,
    Embedding,
    HeadDim,
    Hidden,
    Qkv,
    Seq,
    ShapeError,
    Tensor,
    Vocab,
    Weight,
    concat_columns,
    dot,
    from_columns,
    weight_from_tensor,
    zeros,
)

I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)
R = TypeVar("R", bound=int)
C = TypeVar("C", bound=int)
K = TypeVar("K", bound=int)

# The model.py stages one training forward pass records (hidden_states and gpt2 only call them).
RECORDED_STAGES = ("embed", "transformer_block", "layer_norm", "mha", "ffn", "linear", "gelu",
                   "attention", "attention_weights", "lm_head")


# --- Gradient buffers -------------------------------------------------------------------------
def zero_weight(n_in: I, n_out: O) -> Weight[I, O]:
    return Weight(n_in, n_out, columns=[[0.0] * n_in for _ in range(n_out)])


def zero_layer_norm(ln: LayerNorm) -> LayerNorm:
    return LayerNorm(zeros(ONE, ln.weight.n_cols), zeros(ONE, ln.bias.n_cols))


def zero_linear(layer: Linear[I, O]) -> Linear[I, O]:
    return Linear(zero_weight(layer.weight.n_in, layer.weight.n_out), zeros(ONE, layer.bias.n_cols))


def zero_attention(attn: Attention) -> Attention:
    return Attention(c_attn=zero_linear(attn.c_attn), c_proj=zero_linear(attn.c_proj))


def zero_mlp(mlp: MLP) -> MLP:
    return MLP(c_fc=zero_linear(mlp.c_fc), c_proj=zero_linear(mlp.c_proj))


def zero_block(block: Block) -> Block:
    return Block(ln_1=zero_layer_norm(block.ln_1), attn=zero_attention(block.attn),
                 ln_2=zero_layer_norm(block.ln_2), mlp=zero_mlp(block.mlp))


def zero_gradients(params: Params) -> Params:
    """A Params of zeros, shaped and typed like `params`: the buffer gradients are added into.
    Its matrices are plain columns of floats, whatever storage `params` uses."""
    return Params(
        wte=Embedding(zero_weight(params.wte.T.n_in, params.wte.T.n_out)),
        wpe=Embedding(zero_weight(params.wpe.T.n_in, params.wpe.T.n_out)),
        h=[zero_block(block) for block in params.h],
        ln_f=zero_layer_norm(params.ln_f),
    )


@overload
def accumulate(into: Tensor[R, C], delta: Tensor[R, C]) -> None: ...
@overload
def accumulate(into: Weight[I, O], delta: Weight[I, O]) -> None: ...
def accumulate(into: Tensor[R, C] | Weight[I, O], delta: Tensor[R, C] | Weight[I, O]) -> None:
    """into += delta, in place: a gradient buffer collects every contribution to it."""
    if into.shape != delta.shape:
        raise ShapeError(f"accumulate: a gradient of shape {delta.shape} into a buffer of shape {into.shape}")
    targets = into.rows if isinstance(into, Tensor) else into.columns
    sources = delta.rows if isinstance(delta, Tensor) else delta.columns
    for target, source in zip(targets, sources):
        target[:] = map(add, target, source)  # (element by element: target[i] + source[i])


# --- The loss ---------------------------------------------------------------------------------
def cross_entropy(probs: Tensor[R, Vocab], targets: Sequence[int]) -> float:
    """The mean over the rows of -log p[target], in nats: the loss a trainer reports.
    `probs` is softmax(logits) row by row (as llm.c, the loss is read off the probabilities
    the gradient needs anyway; in float64 they only underflow below e^-700)."""
    if len(targets) != probs.n_rows:
        raise ShapeError(f"cross_entropy: {len(targets)} targets for {probs.n_rows} rows")
    total = 0.0
    for p, target in zip(probs.rows, targets):
        total -= math.log(p[target]) if p[target] > 0.0 else -math.inf
    return total / len(targets)


def cross_entropy_backward(probs: Tensor[R, Vocab], targets: Sequence[int], scale: float) -> Tensor[R, Vocab]:
    """d loss / d logits, through the softmax and the log together: p minus 1 at the target,
    times `scale`, the weight of one prediction in the loss (1 / (B * T) for the mean over a
    batch of B rows of T)."""
    rows = []
    for p, target in zip(probs.rows, targets):
        d = [v * scale for v in p]
        d[target] = (p[target] - 1.0) * scale
        rows.append(d)
    return Tensor(probs.n_rows, probs.n_cols, rows)


# --- The stages, backwards --------------------------------------------------------------------
def gelu_backward(dy: Tensor[Seq, Hidden], x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    """GELU(v) = 0.5 v (1 + tanh(u)), u = c (v + 0.044715 v^3), c = sqrt(2 / pi), so
    GELU'(v) = 0.5 (1 + tanh u) + 0.5 v (1 - tanh(u)^2) c (1 + 3 * 0.044715 v^2)."""
    c = math.sqrt(2.0 / math.pi)

    def slope(v: float) -> float:
        t = math.tanh(c * (v + 0.044715 * v * v * v))
        return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * v * v)

    return dy.hadamard(x.map(slope))


def layer_norm_backward(dy: Tensor[R, Embed], x: Tensor[R, Embed], ln: LayerNorm, eps: float,
                        grad: LayerNorm) -> Tensor[R, Embed]:
    """Per row: xhat = (x - mean) / std with std = sqrt(variance + eps), and y = xhat * g + b.

    db += dy;  dg += dy * xhat;  and with dxhat = dy * g,
    dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / std
    (the two means are what normalising takes back: shifting every x by the same amount, or
    scaling them all, leaves xhat unchanged)."""
    (g,) = ln.weight.rows
    (dg,) = grad.weight.rows
    (db,) = grad.bias.rows
    n = x.n_cols
    out = []
    for row, d in zip(x.rows, dy.rows):
        mean = sum(row) / n
        centred = [v - mean for v in row]
        inv_std = 1.0 / math.sqrt(sum(c * c for c in centred) / n + eps)
        xhat = [c * inv_std for c in centred]
        db[:] = [a + b for a, b in zip(db, d)]
        dg[:] = [a + b * h for a, b, h in zip(dg, d, xhat)]
        dxhat = [a * b for a, b in zip(d, g)]
        mean_d = sum(dxhat) / n
        mean_dh = dot(dxhat, xhat) / n
        out.append([(a - mean_d - h * mean_dh) * inv_std for a, h in zip(dxhat, xhat)])
    return Tensor(x.n_rows, x.n_cols, out)


def product_backward(dy: Tensor[R, O], x: Tensor[R, I], w: Weight[I, O]) -> tuple[Tensor[R, I], Weight[I, O]]:
    """y = x @ W, so dx = dy @ W^T and dW = x^T @ dy (a sum over the rows: every row used W)."""
    return dy @ w.T, weight_from_tensor(x.T @ dy)


def linear_backward(dy: Tensor[Seq, O], x: Tensor[Seq, I], layer: Linear[I, O], grad: Linear[I, O]) -> Tensor[Seq, I]:
    """y = x @ W + b: the product's two gradients, and db = the sum of dy's rows."""
    dx, dw = product_backward(dy, x, layer.weight)
    accumulate(grad.weight, dw)
    accumulate(grad.bias, dy.sum_rows())
    return dx


def ffn_backward(dy: Tensor[Seq, Embed], call: Call, mlp: MLP, grad: MLP) -> Tensor[Seq, Embed]:
    """ffn(x) = linear(gelu(linear(x, c_fc)), c_proj), undone from the outside in."""
    _c_fc, gelu_call, _c_proj = inner_calls(call, ("linear", "gelu", "linear"))
    x = cast(Tensor[Seq, Embed], call.args["x"])  # (each cast: the type model.py's annotation gives)
    pre = cast(Tensor[Seq, Hidden], gelu_call.args["x"])
    act = cast(Tensor[Seq, Hidden], gelu_call.result)
    d_act = linear_backward(dy, act, mlp.c_proj, grad.c_proj)
    d_pre = gelu_backward(d_act, pre)
    return linear_backward(d_pre, x, mlp.c_fc, grad.c_fc)


def softmax_rows_backward(dp: Tensor[R, C], p: Tensor[R, C]) -> Tensor[R, C]:
    """p = softmax(s) along each row: ds_j = p_j (dp_j - sum_k dp_k p_k).  Masked positions
    have p_j = 0, so they get no gradient, as a score of minus infinity should."""
    rows = []
    for d, q in zip(dp.rows, p.rows):
        inner = dot(d, q)
        rows.append([b * (a - inner) for a, b in zip(d, q)])
    return Tensor(p.n_rows, p.n_cols, rows)


def attention_weights_backward(dp: Tensor[Seq, Ctx], q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx],
                               p: Tensor[Seq, Ctx]) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx]]:
    """p = softmax(q @ K^T * s), s = 1 / sqrt(head_dim): back through the softmax, the scale and
    the product (K^T plays the weight's part)."""
    d_scores = softmax_rows_backward(dp, p) * (1.0 / math.sqrt(q.n_cols))
    return product_backward(d_scores, q, k_t)


def attention_backward(dy: Tensor[Seq, HeadDim], call: Call) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx],
                                                                        Weight[Ctx, HeadDim]]:
    """attention(q, K^T, V) = p @ V: gradients for q, K^T and V."""
    (weights_call,) = inner_calls(call, ("attention_weights",))
    q = cast(Tensor[Seq, HeadDim], call.args["q"])
    k_t = cast(Weight[HeadDim, Ctx], call.args["k_t"])
    v = cast(Weight[Ctx, HeadDim], call.args["v"])
    p = cast(Tensor[Seq, Ctx], weights_call.result)
    dp, dv = product_backward(dy, p, v)
    dq, dk_t = attention_weights_backward(dp, q, k_t, p)
    return dq, dk_t, dv


def mha_backward(dy: Tensor[Seq, Embed], call: Call, attn: Attention, grad: Attention, n_head: int) -> Tensor[Seq, Embed]:
    """mha: q, k, v = linear(x, c_attn) cut in three and each into heads; every head's attention;
    the heads side by side through c_proj.  Backwards: c_proj, each head, then c_attn, with
    the heads' gradients put back side by side where their columns came from."""
    expected = ("linear",) + ("attention",) * n_head + ("linear",)
    _c_attn, *head_calls, c_proj_call = inner_calls(call, expected)
    x = cast(Tensor[Seq, Embed], call.args["x"])
    heads = cast(Tensor[Seq, Embed], c_proj_call.args["x"])
    seq, embed, head_dim = x.n_rows, x.n_cols, HeadDim(x.n_cols // n_head)
    d_heads = linear_backward(dy, heads, attn.c_proj, grad.c_proj)
    dq, dk, dv = [], [], []
    for head_call, d_head in zip(head_calls, d_heads.split_columns(n_head, head_dim)):
        dq_h, dk_t, dv_h = attention_backward(d_head, head_call)
        if int(dk_t.n_out) != int(seq):  # (as plain ints: the brands differ, the sizes must not)
            raise ShapeError(f"mha_backward: the keys cover {dk_t.n_out} positions, not this pass's {seq}: "
                             "training needs a fresh KV cache for every row")
        dq.append(dq_h)
        # Key j is column j of K^T, and position j of the cache is token j of this pass.
        dk.append(Tensor(seq, head_dim, dk_t.columns))
        dv.append(from_columns(dv_h.columns, seq, head_dim))
    d_qkv = concat_columns([concat_columns(dq, embed), concat_columns(dk, embed), concat_columns(dv, embed)],
                           Qkv(3 * embed))
    return linear_backward(d_qkv, x, attn.c_attn, grad.c_attn)


def transformer_block_backward(dy: Tensor[Seq, Embed], call: Call, block: Block, grad: Block,
                               config: GPT2Config) -> Tensor[Seq, Embed]:
    """x1 = x + mha(ln_1(x)), then x2 = x1 + ffn(ln_2(x1)).  A residual connection passes its
    gradient straight through and adds the branch's: dx1 = dx2 + (branch's dx)."""
    _ln_1, mha_call, ln_2_call, ffn_call = inner_calls(call, ("layer_norm", "mha", "layer_norm", "ffn"))
    eps = config.layer_norm_epsilon
    x = cast(Tensor[Seq, Embed], call.args["x"])
    x1 = cast(Tensor[Seq, Embed], ln_2_call.args["x"])
    d_ffn_in = ffn_backward(dy, ffn_call, block.mlp, grad.mlp)
    dx1 = dy + layer_norm_backward(d_ffn_in, x1, block.ln_2, eps, grad.ln_2)
    d_mha_in = mha_backward(dx1, mha_call, block.attn, grad.attn, config.n_head)
    return dx1 + layer_norm_backward(d_mha_in, x, block.ln_1, eps, grad.ln_1)


def lookup_backward(d_rows: Tensor[K, C], ids: Sequence[int], grad: Embedding[R, C]) -> None:
    """Row i of a lookup was row ids[i] of the table: its gradient goes back there (added, as a
    token may occur several times)."""
    table = grad.T.columns  # (the table's rows are the columns of grad.T)
    for index, d in zip(ids, d_rows.rows):
        table[index][:] = [a + b for a, b in zip(table[index], d)]


def embed_backward(dx: Tensor[Seq, Embed], ids: Sequence[int], start: int, grad: Params) -> None:
    """embed = wte rows of the tokens + wpe rows of their positions: dx goes to both tables."""
    lookup_backward(dx, ids, grad.wte)
    lookup_backward(dx, range(start, start + len(ids)), grad.wpe)


def lm_head_backward(d_logits: Tensor[R, Vocab], call: Call, params: Params, grad: Params,
                     config: GPT2Config) -> Tensor[R, Embed]:
    """logits = ln_f(x) @ wte^T.  The output layer's weight is the token table (tied), so its
    gradient is added into grad.wte, which embed_backward adds the lookup's gradient to."""
    (ln_f_call,) = inner_calls(call, ("layer_norm",))
    x = cast(Tensor[R, Embed], call.args["x"])
    normed = cast(Tensor[R, Embed], ln_f_call.result)
    d_normed, d_wte_t = product_backward(d_logits, normed, params.wte.T)
    accumulate(grad.wte.T, d_wte_t)
    return layer_norm_backward(d_normed, x, params.ln_f, config.layer_norm_epsilon, grad.ln_f)


# --- One row through the whole network -----------------------------------------------------------
def row_backward(ids: Sequence[int], targets: Sequence[int], params: Params, grad: Params, config: GPT2Config,
                 scale: float) -> float:
    """Feed `ids` (from position 0), score the `targets`, and add d(loss)/d(params) into `grad`.

    Returns the row's mean cross-entropy.  `scale` weighs each prediction's gradient: 1 / len(ids)
    for this row's mean loss alone, 1 / (B * T) for its share of a batch's mean."""
    with record(RECORDED_STAGES) as calls:
        hidden = model.hidden_states(ids, params, model.new_kv_cache(config), config)
        logits = model.lm_head(hidden, params, config)
    embed_call, *block_calls, head_call = expect_calls(calls, ("embed",) + ("transformer_block",) * config.n_layer
                                                       + ("lm_head",), "the forward pass")
    probs = logits.softmax_rows()
    loss = cross_entropy(probs, targets)
    dx = lm_head_backward(cross_entropy_backward(probs, targets, scale), head_call, params, grad, config)
    for block, block_grad, block_call in reversed(list(zip(params.h, grad.h, block_calls))):
        dx = transformer_block_backward(dx, block_call, block, block_grad, config)
    embed_backward(dx, ids, cast(int, embed_call.args["start"]), grad)
    return loss


# --- Reading the recording ------------------------------------------------------------------------
def inner_calls(call: Call, stages: Sequence[str]) -> list[Call]:
    """The recorded calls `call` made, checked to be the stages model.py makes, in its order."""
    return expect_calls(call.inner, stages, f"model.{call.stage}")


def expect_calls(calls: list[Call], stages: Sequence[str], where: str) -> list[Call]:
    found = [c.stage for c in calls]
    if found != list(stages):
        raise RuntimeError(f"{where} called {found}, but the backward pass expects {list(stages)}: "
                           "model.py's stages changed (or were swapped) without a matching backward")
    return calls
