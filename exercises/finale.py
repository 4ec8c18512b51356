"""The finale: GPT-2 generating text with your functions inside it.

Every exercise that passes its check is plugged into potatogpt (its functions replace the ones of
the same names in potatogpt.model, potatogpt.tokenizer or potatogpt.sampling) for one
generation, and put back afterwards.  The loop below is GPT2.generate's, written out: prompt
once, then one token at a time through the KV cache.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from potatogpt import model
from potatogpt.api import load
from potatogpt.convert.export import convert
from potatogpt.sampling import Sampler

from .checks import EXERCISES, VOCAB
from .grader import CHECKPOINTS, Lab, grade_file, load_solution, plugged_in, solution_path


def run_finale(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="potatogpt-finale-") as workdir, ExitStack() as plugs:
        lab = Lab(Path(workdir))
        yours, ours = [], []
        for exercise in EXERCISES:
            path = solution_path(args.solutions, exercise)
            status = grade_file(exercise, path, lab).status
            if status != "passed":
                ours.append(f"ex{exercise.number:02d} ({status})")
                continue
            solution = load_solution(path)
            functions = {name: solution.function(name) for name in exercise.functions}
            plugs.enter_context(plugged_in(importlib.import_module(exercise.target), functions))
            yours.append(f"ex{exercise.number:02d}")
        print(f"yours: {', '.join(yours) or 'nothing yet'}; potatogpt's: {', '.join(ours) or 'nothing'}", file=sys.stderr)

        folder = args.weights
        if folder is None:  # offline: the tiny checkpoint with GPT-2's vocabulary (random weights, so gibberish)
            folder = convert(CHECKPOINTS / VOCAB, Path(workdir) / "finale")
        gpt = load(folder)
        ids = gpt.tokenizer.encode(args.prompt)  # your bpe, if exercise 1 passed
        steps = min(args.max_new_tokens, gpt.config.n_ctx - len(ids) + 1)
        sampler = Sampler(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed)
        kv_cache = gpt.new_kv_cache()
        decoder = gpt.tokenizer.decoder()
        print(args.prompt, end="", flush=True)
        step = ids
        for _ in range(steps):
            logits = model.gpt2(step, gpt.params, kv_cache, gpt.config).row(0)  # through the module: yours if plugged in
            step = [sampler.choose(logits)]
            print(decoder.add(step[0]), end="", flush=True)
        print(decoder.flush())
    return 0
