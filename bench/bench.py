"""How fast is the potato?  Load time, prompt and decode speed, memory, and the bare kernels.

    python bench/bench.py                          # GPT-2 124M shapes, every storage
    python bench/bench.py --size 355M --storage packed --jobs 1

No download: it writes a random-weight checkpoint of the chosen size (Hugging Face layout,
then converted by the real exporter) under --dir, once, and reuses it.  Each storage runs in its own
process so that its peak memory is its own.  For each it reports:

  load         seconds for potatogpt.load() (reading the packed floats, preparing the kernels);
               --packed twice: first use (quantizing, writing packed.cache), then from the cache
  first token  load + the prompt's forward pass: how long a user waits for the first new token
  prompt       seconds for the prompt (the README's, 10 tokens), which goes through as one batch
  decode       seconds per token for each next token, through the KV cache (mean of --decode-tokens)
  kernel       seconds for the same multiply-adds as one decode step, done by the bare `x @ W`
               products alone, timed between the decode steps of the same run; decode / kernel:
               everything that isn't a matrix product (layer norms, attention, GELU, sampling)
  peak RSS     the most memory the process (and its --jobs workers) held at once
  floor        (after exact) the time to build the same float tuples from the same files with
               nothing else, against which the exact load is compared
  CLI          `python -m potatogpt` per storage, from launch to the first new token and to exit
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
from potatogpt.api import STORAGE_FLAGS, STORAGES, GPT2, Storage, load  # noqa: E402
from potatogpt.fast import packed_cache  # noqa: E402
from potatogpt.fast.gc import no_cyclic_gc  # noqa: E402
from potatogpt.weights.catalogue import matrix_names  # noqa: E402
from potatogpt.tensor import ONE, Weight, from_rows  # noqa: E402
from potatogpt.weights.checkpoint import open_checkpoint  # noqa: E402

# Each storage is an api.Storage; the CLI flag that picks it is in brackets in the table.
STORAGE_NAMES: dict[str, Storage] = {storage: storage for storage in STORAGES}
README_PROMPT = "Alan Turing theorized that computers would one day become"
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


# --- One storage, in its own process -----------------------------------------------------------
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


def kernel_pass(model: GPT2, rng: random.Random) -> float:
    """The bare matrix products of one decode step: each `x @ W` on a random row, timed alone."""

    def product_seconds(w: Weight[I, O]) -> float:
        x = from_rows([[rng.gauss(0.0, 1.0) for _ in range(w.n_in)]], ONE, w.n_in)
        started = time.perf_counter()
        x @ w
        return time.perf_counter() - started

    total = product_seconds(model.params.wte.T)  # the output layer
    for block in model.params.h:
        total += product_seconds(block.attn.c_attn.weight) + product_seconds(block.attn.c_proj.weight)
        total += product_seconds(block.mlp.c_fc.weight) + product_seconds(block.mlp.c_proj.weight)
    return total


def exact_floor(folder: Path) -> dict[str, float]:
    """The least an exact load can cost: the same float tuples, from the same files, and nothing
    else (no norms, no tensors), with the cycle collector paused as potatogpt.load does."""
    checkpoint = open_checkpoint(folder)
    started = time.perf_counter()
    kept = []
    with no_cyclic_gc():
        for name in matrix_names(checkpoint.config):
            n_out, n_in = checkpoint.shape(name)
            view = memoryview(checkpoint.read(name))
            kept.append([tuple(view[j * n_in : (j + 1) * n_in]) for j in range(n_out)])
    return {"floor": time.perf_counter() - started, "rss": peak_rss_bytes([])}


def run_one(folder: Path, storage: str, jobs: int, prompt: list[int] | None, decode_tokens: int) -> dict[str, float]:
    if storage == "floor":
        return exact_floor(folder)
    if storage == "exact-load":  # the load alone, to set beside the floor
        started = time.perf_counter()
        model = load(folder, storage="exact")
        # Timed while the model is still alive, as the floor's tuples are: freeing 124M floats
        # takes about a second, which is no part of loading.
        elapsed = time.perf_counter() - started
        model.close()
        return {"load": elapsed}
    started = time.perf_counter()
    model = load(folder, storage=STORAGE_NAMES[storage], jobs=jobs)
    load_s = time.perf_counter() - started
    ids = prompt if prompt is not None else model.tokenizer.encode(README_PROMPT)
    kv_cache = model.new_kv_cache()
    started = time.perf_counter()
    logits = model.forward(ids, kv_cache)
    prompt_s = time.perf_counter() - started
    # Decode steps and bare kernels take turns, so that both see the same machine: on a shared,
    # noisy VM, timing all of one and then all of the other compares two different machines.
    rng = random.Random(1)
    steps, kernels = [], []
    for _ in range(decode_tokens):
        token = max(range(len(logits)), key=logits.__getitem__)
        started = time.perf_counter()
        logits = model.forward([token], kv_cache)
        steps.append(time.perf_counter() - started)
        if jobs == 1:
            kernels.append(kernel_pass(model, rng))
    result = {"load": load_s, "prompt": prompt_s, "prompt_tokens": len(ids), "first_token": load_s + prompt_s,
              "decode": statistics.mean(steps), "decode_median": statistics.median(steps)}
    if kernels:
        result["kernel"] = statistics.mean(kernels)
    pids = [p.pid for p in model.pool.processes if p.pid is not None] if model.pool else []
    result["rss"] = peak_rss_bytes(pids)
    model.close()
    return result


def cli_run(folder: Path, flags: list[str], new_tokens: int) -> tuple[float, float]:
    """`python -m potatogpt` as a user runs it: seconds from launch to the first new token on
    stdout, and to exit."""
    command = [sys.executable, "-m", "potatogpt", "--weights", str(folder), *flags, "-n", str(new_tokens),
               "--ignore-eot", README_PROMPT]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.stdout is not None
    seen = b""
    first = float("nan")
    while chunk := child.stdout.read1(4096):  # type: ignore[attr-defined]
        seen += chunk
        if len(seen) > len(README_PROMPT.encode()) and first != first:
            first = time.perf_counter() - started
    child.wait()
    return first, time.perf_counter() - started


# --- The table ------------------------------------------------------------------------------
def load_average() -> str:
    """Other programs competing for the cores skew every figure: say how busy the machine was."""
    try:
        one, five, _ = os.getloadavg()
    except (OSError, AttributeError):  # AttributeError: Windows has no load average
        return "load average: unknown"
    return f"load average: {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def child(args: argparse.Namespace, storage: str, jobs: int) -> dict[str, float] | str:
    """One storage in its own process, so that its peak memory is its own."""
    command = [sys.executable, __file__, "--size", args.size, "--dir", str(args.dir), "--one", storage, str(jobs),
               "--decode-tokens", str(args.decode_tokens)]
    if args.prompt_tokens is not None:
        command += ["--prompt-tokens", str(args.prompt_tokens)]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        return f"failed: {run.stderr.strip().splitlines()[-1:]}"
    result: dict[str, float] = json.loads(run.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=list(MODEL_SIZES), default="124M")
    parser.add_argument("--storage", "--modes", dest="storages", default="exact,packed,compact",
                        help="comma-separated storages: exact, packed, compact, reference (--modes is its old name)")
    parser.add_argument("--jobs", default="1,2", help="comma-separated process counts (default 1,2)")
    parser.add_argument("--prompt-tokens", type=int, default=None,
                        help="a prompt of this many random tokens (default: the README's prompt, 10 tokens)")
    parser.add_argument("--decode-tokens", type=int, default=40, help="decode steps to average (default 40)")
    parser.add_argument("--floor-rounds", type=int, default=3, help="exact floor and exact load, taking turns (default 3)")
    parser.add_argument("--no-cli", action="store_true", help="skip timing `python -m potatogpt` launch to exit")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/potatogpt-bench"), help="where the random weights go")
    parser.add_argument("--one", nargs=2, metavar=("MODE", "JOBS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = random_weights(args.size, args.dir)

    if args.one:  # a child run: one storage, results as JSON on stdout
        storage, jobs = args.one
        prompt = None
        if args.prompt_tokens is not None:
            prompt = [random.Random(2).randrange(MODEL_SIZES[args.size].vocab_size) for _ in range(args.prompt_tokens)]
        print(json.dumps(run_one(folder, storage, int(jobs), prompt, args.decode_tokens)))
        return 0

    storages = [m for m in args.storages.split(",") if m]
    for m in storages:
        if m not in STORAGE_NAMES:
            parser.error(f"unknown storage {m!r}; choose from {', '.join(STORAGE_NAMES)}")
    job_counts = [int(j) for j in args.jobs.split(",") if j]
    prompt_text = f"{args.prompt_tokens} random tokens" if args.prompt_tokens is not None else "the README prompt"
    print(f"potatogpt benchmark: GPT-2 {args.size} shapes, random weights, {prompt_text}, "
          f"mean of {args.decode_tokens} decode steps")
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(load_average())
    print()
    print("| storage | jobs | load s | first token s | prompt s | decode s/token | bare kernels s/token | "
          "decode / kernels | peak RSS GiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for storage in storages:
        single_decode = None
        for jobs in job_counts:
            # --packed in one process: first use (quantize, write packed.cache), then cached.
            passes = ["first use", "cached"] if storage == "packed" and jobs == 1 else [""]
            for label in passes:
                if label == "first use":
                    for path in packed_cache.cache_paths(open_checkpoint(folder)):
                        path.unlink(missing_ok=True)
                r = child(args, storage, jobs)
                name = f"{storage} ({STORAGE_FLAGS[STORAGE_NAMES[storage]] or 'default'}){', ' + label if label else ''}"
                if isinstance(r, str):
                    print(f"| {name} | {jobs} | {r} |", flush=True)
                    continue
                if jobs == 1:
                    single_decode = r["decode"]
                    kernel = f"{r['kernel']:.3f} | {r['decode'] / r['kernel']:.2f}x"
                else:
                    speedup = f"{single_decode / r['decode']:.2f}x faster than 1 job" if single_decode else ""
                    kernel = f"— | {speedup}"
                print(f"| {name} | {jobs} | {r['load']:.1f} | {r['first_token']:.1f} | {r['prompt']:.2f} | "
                      f"{r['decode']:.3f} | {kernel} | {r['rss'] / 2**30:.2f} |", flush=True)
    if "exact" in storages:
        # Load times swing by 2x on a VM whose fresh memory is slow to fault in, and with other
        # programs on the cores: so the floor and the load take turns, each in a fresh process,
        # and the best of each is compared.
        floors, loads = [], []
        for _ in range(args.floor_rounds):
            floor, exact = child(args, "floor", 1), child(args, "exact-load", 1)
            if isinstance(floor, dict) and isinstance(exact, dict):
                floors.append(floor["floor"])
                loads.append(exact["load"])
        if floors:
            print(f"\nexact load {min(loads):.1f} s against its floor (the same float tuples from the same files, "
                  f"nothing else) {min(floors):.1f} s: {min(loads) / min(floors):.2f}x "
                  f"(best of {len(floors)}, taking turns; all loads {', '.join(f'{t:.1f}' for t in loads)}, "
                  f"all floors {', '.join(f'{t:.1f}' for t in floors)})", flush=True)
    print(f"\n{load_average()}")
    if not args.no_cli:
        print(f"\n`python -m potatogpt --weights {folder} [flags] -n {args.decode_tokens} --ignore-eot "
              f"\"{README_PROMPT}\"`, from launch:\n")
        print("| flags | first token s | exit s |")
        print("|---|---|---|")
        for storage in storages:
            flags = [STORAGE_FLAGS[STORAGE_NAMES[storage]]] if STORAGE_FLAGS[STORAGE_NAMES[storage]] else []
            first, total = cli_run(folder, flags, args.decode_tokens)
            print(f"| {' '.join(flags) or '(default)'} | {first:.1f} | {total:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
