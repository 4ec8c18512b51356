"""The backward pass with the lessons' signatures: the earlier pieces of exercises 12 to 20.

Your backward functions call the pieces they build on through this module,
`backprop.linear_backward(...)`, as the forward exercises call `model.linear(...)`.  While you are
graded these are potatogpt's own (each exercise is graded on its own); in `python -m exercises
train` the ones you have passed are yours.

The lessons' signatures differ from potatogpt/backward.py's in one way.  A stage made of smaller
stages (the MLP, attention, a block, the output layer) takes its *inputs* here, `ffn_backward(dy,
x, mlp, grad)`, and recomputes what it needs in between (the MLP's pre-activation, the attention
weights) with model.py's functions; potatogpt's takes the forward pass's recording of the same
numbers instead (`ffn_backward(dy, call, mlp, grad)`), so nothing is computed twice.  The numbers
are the same.  The small stages (`linear_backward`, `layer_norm_backward`, ...) have the same
signature in both.

`plugged_in` puts your functions in: here, and into potatogpt.backward and potatogpt.train,
where potatogpt's own functions call each other through their module (row_backward calls
`transformer_block_backward`, whatever `potatogpt.backward.transformer_block_backward` is then).
A function whose signature differs is wrapped, so that it is given the inputs the recording holds.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import TypeVar

from potatogpt import backward, model, train
from potatogpt.config import GPT2Config
from potatogpt.instruments import Call, record
from potatogpt.model import MLP, Attention, Block, LayerCache, LayerNorm, Linear, Params
from potatogpt.tensor import Ctx, Embed, HeadDim, Hidden, Seq, Tensor, Vocab, Weight, empty_weight

R = TypeVar("R", bound=int)
C = TypeVar("C", bound=int)
I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)


# --- The pieces, potatogpt's own unless plugged in --------------------------------------------------
# potatogpt's functions as they are before anything is plugged in.  Each piece below calls its own
# potatogpt twin; that twin calls the others through potatogpt.backward, where yours may be.
class Potatogpt:
    """potatogpt's own functions, as they were before anything was plugged in."""

    cross_entropy = staticmethod(backward.cross_entropy)
    cross_entropy_backward = staticmethod(backward.cross_entropy_backward)
    lm_head_backward = staticmethod(backward.lm_head_backward)
    embed_backward = staticmethod(backward.embed_backward)
    product_backward = staticmethod(backward.product_backward)
    linear_backward = staticmethod(backward.linear_backward)
    gelu_backward = staticmethod(backward.gelu_backward)
    ffn_backward = staticmethod(backward.ffn_backward)
    layer_norm_backward = staticmethod(backward.layer_norm_backward)
    softmax_rows_backward = staticmethod(backward.softmax_rows_backward)
    attention_weights_backward = staticmethod(backward.attention_weights_backward)
    attention_backward = staticmethod(backward.attention_backward)
    mha_backward = staticmethod(backward.mha_backward)
    transformer_block_backward = staticmethod(backward.transformer_block_backward)
    adamw_update = staticmethod(train.adamw_update)


def cross_entropy(probs: Tensor[R, Vocab], targets: Sequence[int]) -> float:
    return Potatogpt.cross_entropy(probs, targets)


def cross_entropy_backward(probs: Tensor[R, Vocab], targets: Sequence[int], scale: float) -> Tensor[R, Vocab]:
    return Potatogpt.cross_entropy_backward(probs, targets, scale)


def lm_head_backward(d_logits: Tensor[R, Vocab], x: Tensor[R, Embed], params: Params, grad: Params,
                     config: GPT2Config) -> Tensor[R, Embed]:
    (call,) = recorded("lm_head", lambda: model.lm_head(x, params, config))
    return Potatogpt.lm_head_backward(d_logits, call, params, grad, config)


def embed_backward(dx: Tensor[Seq, Embed], ids: Sequence[int], start: int, grad: Params) -> None:
    Potatogpt.embed_backward(dx, ids, start, grad)


def product_backward(dy: Tensor[R, O], x: Tensor[R, I], w: Weight[I, O]) -> tuple[Tensor[R, I], Weight[I, O]]:
    return Potatogpt.product_backward(dy, x, w)


def linear_backward(dy: Tensor[Seq, O], x: Tensor[Seq, I], layer: Linear[I, O], grad: Linear[I, O]) -> Tensor[Seq, I]:
    return Potatogpt.linear_backward(dy, x, layer, grad)


def gelu_backward(dy: Tensor[Seq, Hidden], x: Tensor[Seq, Hidden]) -> Tensor[Seq, Hidden]:
    return Potatogpt.gelu_backward(dy, x)


def ffn_backward(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], mlp: MLP, grad: MLP) -> Tensor[Seq, Embed]:
    (call,) = recorded("ffn", lambda: model.ffn(x, mlp))
    return Potatogpt.ffn_backward(dy, call, mlp, grad)


def layer_norm_backward(dy: Tensor[R, Embed], x: Tensor[R, Embed], ln: LayerNorm, eps: float,
                        grad: LayerNorm) -> Tensor[R, Embed]:
    return Potatogpt.layer_norm_backward(dy, x, ln, eps, grad)


def softmax_rows_backward(dp: Tensor[R, C], p: Tensor[R, C]) -> Tensor[R, C]:
    return Potatogpt.softmax_rows_backward(dp, p)


def attention_weights_backward(dp: Tensor[Seq, Ctx], q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx],
                               p: Tensor[Seq, Ctx]) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx]]:
    return Potatogpt.attention_weights_backward(dp, q, k_t, p)


def attention_backward(dy: Tensor[Seq, HeadDim], q: Tensor[Seq, HeadDim], k_t: Weight[HeadDim, Ctx],
                       v: Weight[Ctx, HeadDim]) -> tuple[Tensor[Seq, HeadDim], Weight[HeadDim, Ctx], Weight[Ctx, HeadDim]]:
    (call,) = recorded("attention", lambda: model.attention(q, k_t, v))
    return Potatogpt.attention_backward(dy, call)


def mha_backward(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], attn: Attention, grad: Attention,
                 n_head: int) -> Tensor[Seq, Embed]:
    (call,) = recorded("mha", lambda: model.mha(x, attn, empty_cache(x.n_cols, n_head), n_head))
    return Potatogpt.mha_backward(dy, call, attn, grad, n_head)


def transformer_block_backward(dy: Tensor[Seq, Embed], x: Tensor[Seq, Embed], block: Block, grad: Block,
                               config: GPT2Config) -> Tensor[Seq, Embed]:
    (call,) = recorded("transformer_block",
                       lambda: model.transformer_block(x, block, empty_cache(x.n_cols, config.n_head), config))
    return Potatogpt.transformer_block_backward(dy, call, block, grad, config)


def adamw_update(values: Sequence[float], grads: Sequence[float], exp_avg: Sequence[float],
                 exp_avg_sq: Sequence[float], step: int, lr: float, betas: tuple[float, float], eps: float,
                 weight_decay: float, decay: bool) -> tuple[list[float], list[float], list[float]]:
    return Potatogpt.adamw_update(values, grads, exp_avg, exp_avg_sq, step, lr, betas, eps, weight_decay, decay)


# --- Helpers the lessons use ---------------------------------------------------------------------------
def empty_cache(n_embd: int, n_head: int) -> LayerCache:
    """A block's KV cache with nothing in it yet: a training pass starts at position 0."""
    return model.new_layer_cache(n_head, HeadDim(n_embd // n_head))


def keys_and_values(k: Tensor[Seq, HeadDim], v: Tensor[Seq, HeadDim]) -> tuple[Weight[HeadDim, Ctx], Weight[Ctx, HeadDim]]:
    """One head's K^T and V for a pass from position 0, as model.mha's cache holds them: key j is
    column j of K^T, value j is row j of V."""
    k_t, values = empty_weight(k.n_cols, Ctx(0)), empty_weight(Ctx(0), v.n_cols)
    for key, value in zip(k.rows, v.rows):
        k_t.append_column(key)
        values.append_row(value)
    return k_t, values


def recorded(stage: str, forward: Callable[[], object]) -> list[Call]:
    """The recording of one model.py stage, run again on the same inputs."""
    with record(backward.RECORDED_STAGES) as calls:
        forward()
    return backward.expect_calls(calls, (stage,), f"model.{stage}")


# --- Putting your functions in ---------------------------------------------------------------------------
Function = Callable[..., object]

# potatogpt's signature -> the lesson's: what the recorded call holds, handed over as the inputs.
RECORDED_INPUTS: dict[str, Callable[[Function], Function]] = {
    "lm_head_backward": lambda f: lambda d_logits, call, params, grad, config: f(d_logits, call.args["x"], params,
                                                                                 grad, config),
    "ffn_backward": lambda f: lambda dy, call, mlp, grad: f(dy, call.args["x"], mlp, grad),
    "attention_backward": lambda f: lambda dy, call: f(dy, call.args["q"], call.args["k_t"], call.args["v"]),
    "mha_backward": lambda f: lambda dy, call, attn, grad, n_head: f(dy, call.args["x"], attn, grad, n_head),
    "transformer_block_backward": lambda f: lambda dy, call, block, grad, config: f(dy, call.args["x"], block, grad,
                                                                                     config),
}


@contextmanager
def plugged_in(functions: Mapping[str, Function]) -> Iterator[None]:
    """Your functions in place of potatogpt's for the length of a `with`, then potatogpt's again:
    here (for the pieces that call them), and in potatogpt.backward or potatogpt.train (for
    potatogpt's own functions, which call them)."""
    here = sys.modules[__name__]
    with ExitStack() as stack:
        for name, function in functions.items():
            target = train if name == "adamw_update" else backward
            adapted = RECORDED_INPUTS[name](function) if name in RECORDED_INPUTS else function
            stack.enter_context(replaced(here, name, function))
            stack.enter_context(replaced(target, name, adapted))
        yield


@contextmanager
def replaced(module: object, name: str, function: Function) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, function)
    try:
        yield
    finally:
        setattr(module, name, original)
