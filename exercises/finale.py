"""The finale: GPT-2 generating text with your functions inside it.

Every exercise that passes its check is plugged into potatogpt (its functions replace the ones of
the same names in potatogpt.model, potatogpt.tokenizer or potatogpt.sampling) for one
generation, and put back afterwards.  GPT2.generate reaches the forward pass through the
potatogpt.model module, so it runs whatever is plugged in there.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from potatogpt.api import GPT2, load
from potatogpt.weights.catalogue import WeightsError

from .checks import EXERCISES, VOCAB
from .grader import Lab, passing, plugged_in


def run_finale(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="potatogpt-finale-") as workdir, ExitStack() as plugs:
        lab = Lab(Path(workdir))
        # Offline, the tiny checkpoint with GPT-2's vocabulary (random weights: the text is gibberish).
        try:
            gpt = load(args.weights or lab.folder(VOCAB))
        except WeightsError as error:  # a missing or damaged folder: one line, as the CLI says it
            print(f"python -m exercises finale: {error}", file=sys.stderr)
            return 1
        graded = passing(args.solutions, [e for e in EXERCISES if e.part == 1], lab)  # (part two's: `train`)
        for exercise, functions in graded.passed:
            plugs.enter_context(plugged_in(importlib.import_module(exercise.target), functions))
        print(graded.summary(), file=sys.stderr)
        return generate(gpt, args)


def generate(gpt: GPT2, args: argparse.Namespace) -> int:
    """Print the prompt, then each new token as it is chosen (GPT2.generate: the prompt goes
    through once, then one token at a time, each step reusing the KV cache)."""
    ids = gpt.tokenizer.encode(args.prompt) or [gpt.tokenizer.eot_id]  # your bpe, if exercise 1 passed
    if len(ids) > gpt.config.n_ctx:
        print(f"python -m exercises finale: the prompt is {len(ids)} tokens, more than this model's context of "
              f"{gpt.config.n_ctx}; give a shorter PROMPT", file=sys.stderr)
        return 1
    steps = min(args.max_new_tokens, gpt.config.n_ctx - len(ids) + 1)  # (the last token is never fed back)
    decoder = gpt.tokenizer.decoder()
    print(args.prompt, end="", flush=True)
    if steps > 0:
        for token in gpt.generate(ids, steps, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                                  seed=args.seed, stop_at_eot=False):
            print(decoder.add(token), end="", flush=True)
    print(decoder.flush())
    return 0
