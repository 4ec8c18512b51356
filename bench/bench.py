"""How fast is the potato?  Load time, prompt and decode speed, memory, and the bare kernels.

    python bench/bench.py                          # GPT-2 124M shapes, every mode
    python bench/bench.py --size 355M --modes packed --jobs 1

No download: it writes a random-weight checkpoint of the chosen size (Hugging Face layout,
then converted by the real exporter) under --dir, once, and reuses it.  Each mode runs in its own
process so that its peak memory is its own.  For each it reports:

  load       seconds for potatogpt.load() (reading the packed floats, preparing the kernels)
  prompt     seconds per token for a --prompt-tokens prompt, which goes through as one batch
  decode     seconds per token for each next token, through the KV cache (median of --decode-tokens)
  kernel     seconds for the same multiply-adds as one decode step, done by the bare `x @ W`
             products alone (in the same process, right after), and decode / kernel: everything
             that isn't a matrix product (layer norms, attention, GELU, sampling) is the excess
  peak RSS   the most memory the process (and its --jobs workers) held at once
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import struct
import subprocess
import sys
import time
from array import array
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from potatogpt.config import MODEL_SIZES, GPT2Config  # noqa: E402
from potatogpt.convert.export import convert  # noqa: E402
from potatogpt.api import GPT2, Storage, load  # noqa: E402
from potatogpt.tensor import ONE, Weight, from_rows  # noqa: E402

# Each mode is an api.Storage; the CLI flag that picks it is in brackets in the table.
MODES: dict[str, Storage] = {"exact": "exact", "packed": "packed", "compact": "compact", "reference": "reference"}
FLAGS = {"exact": "default", "packed": "--packed", "compact": "--low-memory", "reference": "--reference"}
I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)


# --- A random checkpoint on disk ----------------------------------------------------------------
def hf_tensors(config: GPT2Config) -> list[tuple[str, list[int], str]]:
    """(name, Hugging Face shape, kind) for every tensor of a GPT-2 in the hub's bare layout."""
    e, v = config.n_embd, config.vocab_size
    tensors = [("wte.weight", [v, e], "w"), ("wpe.weight", [config.n_ctx, e], "w")]
    for i in range(config.n_layer):
        p = f"h.{i}."
        tensors += [
            (p + "ln_1.weight", [e], "gain"), (p + "ln_1.bias", [e], "b"),
            (p + "attn.c_attn.weight", [e, 3 * e], "w"), (p + "attn.c_attn.bias", [3 * e], "b"),
            (p + "attn.c_proj.weight", [e, e], "w"), (p + "attn.c_proj.bias", [e], "b"),
            (p + "ln_2.weight", [e], "gain"), (p + "ln_2.bias", [e], "b"),
            (p + "mlp.c_fc.weight", [e, 4 * e], "w"), (p + "mlp.c_fc.bias", [4 * e], "b"),
            (p + "mlp.c_proj.weight", [4 * e, e], "w"), (p + "mlp.c_proj.bias", [e], "b"),
        ]
    return tensors + [("ln_f.weight", [e], "gain"), ("ln_f.bias", [e], "b")]


def write_random_checkpoint(config: GPT2Config, folder: Path, seed: int = 0) -> None:
    """model.safetensors + config.json with N(0, 0.02) weights (gains around 1).

    Drawing 124M Gaussians one by one would take a minute, so each tensor is cut from a pool of
    2**20 random floats at random offsets: the numbers a benchmark multiplies need not be unique.
    """
    rng = random.Random(seed)
    pool = array("f", [rng.gauss(0.0, 0.02) for _ in range(1 << 20)])
    gains = array("f", [1.0 + rng.gauss(0.0, 0.1) for _ in range(1 << 12)])
    tensors = hf_tensors(config)
    header: dict[str, object] = {}
    offset = 0
    for name, shape, _kind in tensors:
        size = 4 * eval_product(shape)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    header_bytes = json.dumps(header).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)) + header_bytes)
        for _name, shape, kind in tensors:
            n = eval_product(shape)
            source = gains if kind == "gain" else pool
            data = array("f")
            while len(data) < n:
                start = rng.randrange(len(source) // 2)
                data.extend(source[start : start + min(n - len(data), len(source) // 2)])
            if sys.byteorder == "big":
                data.byteswap()
            data.tofile(f)
    hf_config = {
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": config.n_layer,
        "n_head": config.n_head, "n_embd": config.n_embd, "n_positions": config.n_ctx,
        "n_ctx": config.n_ctx, "vocab_size": config.vocab_size,
        "layer_norm_epsilon": config.layer_norm_epsilon,
    }
    (folder / "config.json").write_text(json.dumps(hf_config, indent=1))


def eval_product(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def random_weights(size: str, root: Path) -> Path:
    """A converted random-weight folder for this size, made once."""
    out = root / size
    if (out / "manifest.json").is_file():
        return out
    source = root / f"{size}-hf"
    print(f"writing a random {size} checkpoint to {source} and converting it to {out} ...", file=sys.stderr)
    write_random_checkpoint(MODEL_SIZES[size], source)
    convert(source, out)
    (source / "model.safetensors").unlink()  # the converted folder is all the benchmark reads
    return out


# --- One mode, in its own process -----------------------------------------------------------
def peak_rss_bytes(worker_pids: list[int]) -> int:
    """This process's peak resident memory plus its workers' (Linux: VmHWM; else ru_maxrss)."""
    total = 0
    for pid in ["self", *map(str, worker_pids)]:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            if pid == "self":
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                total += rss if sys.platform == "darwin" else rss * 1024
    return total


def kernel_seconds(model: GPT2, repeats: int) -> float:
    """The bare matrix products of one decode step: each `x @ W` on a random row, timed alone."""
    rng = random.Random(1)

    def product_seconds(w: Weight[I, O]) -> float:
        x = from_rows([[rng.gauss(0.0, 1.0) for _ in range(w.n_in)]], ONE, w.n_in)
        started = time.perf_counter()
        x @ w
        return time.perf_counter() - started

    best = float("inf")
    for _ in range(repeats):
        total = product_seconds(model.params.wte.T)  # the output layer
        for block in model.params.h:
            total += product_seconds(block.attn.c_attn.weight) + product_seconds(block.attn.c_proj.weight)
            total += product_seconds(block.mlp.c_fc.weight) + product_seconds(block.mlp.c_proj.weight)
        best = min(best, total)
    return best


def run_one(folder: Path, storage: str, jobs: int, prompt_tokens: int, decode_tokens: int) -> dict[str, float]:
    started = time.perf_counter()
    model = load(folder, storage=MODES[storage], jobs=jobs)
    load_s = time.perf_counter() - started
    ids = [random.Random(2).randrange(model.config.vocab_size) for _ in range(prompt_tokens)]
    kv_cache = model.new_kv_cache()
    started = time.perf_counter()
    logits = model.forward(ids, kv_cache)
    prompt_s = (time.perf_counter() - started) / prompt_tokens
    steps = []
    for _ in range(decode_tokens):
        token = max(range(len(logits)), key=logits.__getitem__)
        started = time.perf_counter()
        logits = model.forward([token], kv_cache)
        steps.append(time.perf_counter() - started)
    result = {"load": load_s, "prompt": prompt_s, "decode": statistics.median(steps)}
    if jobs == 1:
        result["kernel"] = kernel_seconds(model, repeats=2)
    pids = [p.pid for p in model.pool.processes if p.pid is not None] if model.pool else []
    result["rss"] = peak_rss_bytes(pids)
    model.close()
    return result


# --- The table ------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=list(MODEL_SIZES), default="124M")
    parser.add_argument("--modes", default="exact,packed,compact", help="comma-separated: exact, packed, compact, reference")
    parser.add_argument("--jobs", default="1,2", help="comma-separated process counts (default 1,2)")
    parser.add_argument("--prompt-tokens", type=int, default=10)
    parser.add_argument("--decode-tokens", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/potatogpt-bench"), help="where the random weights go")
    parser.add_argument("--one", nargs=2, metavar=("MODE", "JOBS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = random_weights(args.size, args.dir)

    if args.one:  # a child run: one mode, results as JSON on stdout
        mode, jobs = args.one
        print(json.dumps(run_one(folder, mode, int(jobs), args.prompt_tokens, args.decode_tokens)))
        return 0

    modes = [m for m in args.modes.split(",") if m]
    for m in modes:
        if m not in MODES:
            parser.error(f"unknown mode {m!r}; choose from {', '.join(MODES)}")
    job_counts = [int(j) for j in args.jobs.split(",") if j]
    print(f"potatogpt benchmark: GPT-2 {args.size} shapes, random weights, {args.prompt_tokens}-token prompt, "
          f"median of {args.decode_tokens} decode steps")
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print()
    print("| mode | jobs | load s | prompt s/token | decode s/token | bare kernels s/token | decode / kernels | peak RSS GiB |")
    print("|---|---|---|---|---|---|---|---|")
    for mode in modes:
        single_decode = None
        for jobs in job_counts:
            child = subprocess.run(
                [sys.executable, __file__, "--size", args.size, "--dir", str(args.dir), "--one", mode, str(jobs),
                 "--prompt-tokens", str(args.prompt_tokens), "--decode-tokens", str(args.decode_tokens)],
                capture_output=True, text=True,
            )
            if child.returncode != 0:
                print(f"| {mode} ({FLAGS[mode]}) | {jobs} | failed: {child.stderr.strip().splitlines()[-1:]} |")
                continue
            r = json.loads(child.stdout)
            if jobs == 1:
                single_decode = r["decode"]
                kernel = f"{r['kernel']:.3f} | {r['decode'] / r['kernel']:.2f}x"
            else:
                speedup = f"{single_decode / r['decode']:.2f}x faster than 1 job" if single_decode else ""
                kernel = f"— | {speedup}"
            print(f"| {mode} ({FLAGS[mode]}) | {jobs} | {r['load']:.1f} | {r['prompt']:.3f} | {r['decode']:.3f} | {kernel} | "
                  f"{r['rss'] / 2**30:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
