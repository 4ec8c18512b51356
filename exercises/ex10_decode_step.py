"""Exercise 10: the whole network, one KV-cached step at a time.           (about 20 minutes)

What it does
    Generating text calls the network once per new token.  The first call feeds the prompt;
    every later call feeds only the one token just chosen, and attention looks back at the
    keys and values every block cached on the earlier calls.  Your function runs one such
    step: embed the new tokens at the right positions, send them through every block (each
    with its own cache), and score the token that comes next.

The steps
    start = kv_cache.length                    positions already cached = the first new position
    x = embed(ids, params, start)              Tensor[Seq, Embed]
    for each block and its cache (zip(params.h, kv_cache.layers)): x = transformer_block(...)
    last = take_rows(x, [x.n_rows - 1], ONE)   only the last position predicts the next token
    return lm_head(last, params, config)       Tensor[One, Vocab]

Earlier pieces
    `model.embed`, `model.transformer_block`, `model.lm_head`; `take_rows` and `ONE` come from
    potatogpt.tensor.

In potatogpt
    potatogpt/model.py, `gpt2` and `hidden_states`; the generation loop is GPT2.generate in
    potatogpt/api.py.

Stage 1, shapes: `python -m mypy exercises/ex10_decode_step.py`.  Send every position through the output
layer and return all of them:

        logits = model.lm_head(x, params, config)
        return logits

    exercises/ex10_decode_step.py:<line>: error: Incompatible return value type (got "Tensor[Seq, Vocab]", expected "Tensor[One, Vocab]")  [return-value]

Stage 2, values: `python -m exercises check 10` (each value must match potatogpt's to
1e-6 plus 1e-6 of its size; rounding differs by less than 1e-12, so anything the grader reports
is a real difference.  Build new lists for your results: never write into a tensor's rows or an
argument's lists, which the grader reports as a verdict of its own).  Before any value, it checks
what each block's cache holds after your step (kv_cache.layers[i] for block i); it also feeds a
prompt that fills the whole context (n_ctx positions), and your steps must reproduce the greedy
continuation Hugging Face transformers computed for the tiny checkpoint with GPT-2's vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence

from potatogpt import model
from potatogpt.config import GPT2Config
from potatogpt.model import KVCache, Params
from potatogpt.tensor import ONE, One, Tensor, Vocab, take_rows


def gpt2(ids: Sequence[int], params: Params, kv_cache: KVCache, config: GPT2Config) -> Tensor[One, Vocab]:
    """Logits for the token after `ids`, which follow the kv_cache.length positions cached."""
    raise NotImplementedError("exercise 10: write gpt2")
