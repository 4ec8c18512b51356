"""Peak memory (and time) of converting a full-size checkpoint, which must stream, not load.

    python3 bench/bench_export.py                  # a random 124M-shaped F32 checkpoint
    python3 bench/bench_export.py --dtype F16      # or stored as F16 / BF16
    python3 bench/bench_export.py --size 355M      # a bigger shape (needs more disk)

Writes a random checkpoint with the exact tensors, shapes and layout of the hub's original
GPT-2 files (bare names, the h.N.attn.bias mask buffers included) using only the standard
library, then converts it in a child process and reports that process's peak resident memory
(VmHWM on Linux, ru_maxrss elsewhere) next to the checkpoint's size, and next to a child that only imports the exporter.
Unix only (the resource module).  Everything is written under a temporary folder, deleted after.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import struct
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from potatogpt.config import MODEL_SIZES, GPT2Config  # noqa: E402  (after the path fix)
from potatogpt.convert.hf_checkpoint import hf_shape  # noqa: E402
from potatogpt.weights.catalogue import tensor_names  # noqa: E402

ITEM_SIZE = {"F32": 4, "F16": 2, "BF16": 2}
POOL = 1 << 20  # random values generated once, then reused at shifting offsets


def random_pool(dtype: str) -> bytes:
    rng = random.Random(0)
    values = [rng.gauss(0.0, 0.02) for _ in range(POOL)]
    if dtype == "F32":
        return array("f", values).tobytes() if sys.byteorder == "little" else struct.pack(f"<{POOL}f", *values)
    if dtype == "F16":
        return struct.pack(f"<{POOL}e", *values)
    wide = struct.pack(f"<{POOL}f", *values)  # BF16: the top two bytes of each float32
    return bytes(b for i in range(0, len(wide), 4) for b in wide[i + 2:i + 4])


def write_checkpoint(folder: Path, config: GPT2Config, dtype: str) -> Path:
    """A hub-style model.safetensors + config.json, written tensor by tensor."""
    entries: list[tuple[str, str, tuple[int, ...]]] = [(name, dtype, hf_shape(name, config))
                                                      for name in tensor_names(config)]
    entries += [(f"h.{i}.attn.bias", "F32", (1, 1, config.n_ctx, config.n_ctx)) for i in range(config.n_layer)]
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, kind, shape in entries:
        size = ITEM_SIZE[kind]
        for dim in shape:
            size *= dim
        header[name] = {"dtype": kind, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header_bytes = json.dumps(header).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)

    pool = random_pool(dtype)
    path = folder / "model.safetensors"
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)) + header_bytes)
        for index, (name, kind, shape) in enumerate(entries):
            spec = header[name]
            assert isinstance(spec, dict)
            begin, end = spec["data_offsets"]
            remaining = end - begin
            if kind == dtype:
                start = (index * 7919 * ITEM_SIZE[dtype]) % len(pool)
                while remaining:
                    piece = pool[start:start + remaining]
                    f.write(piece)
                    remaining -= len(piece)
                    start = 0
            else:  # the causal mask: row r has r + 1 ones
                n = config.n_ctx
                for r in range(n):
                    f.write(struct.pack("<f", 1.0) * (r + 1) + bytes(4 * (n - r - 1)))
    hf_config = {"model_type": "gpt2", "n_layer": config.n_layer, "n_head": config.n_head, "n_embd": config.n_embd,
                 "n_positions": config.n_ctx, "n_ctx": config.n_ctx, "vocab_size": config.vocab_size,
                 "layer_norm_epsilon": config.layer_norm_epsilon, "activation_function": "gelu_new"}
    (folder / "config.json").write_text(json.dumps(hf_config))
    return path


def child_peak_kib(code: str) -> tuple[int, float]:
    """Run `code` in a fresh Python; its peak resident set size in KiB, and its wall time."""
    # Linux: VmHWM, the high-water mark of this process image.  Not ru_maxrss: on Linux that
    # survives exec, so the child would inherit the parent's (this script's) peak.
    report = ("import resource, sys, pathlib\n"
              "status = pathlib.Path('/proc/self/status')\n"
              "lines = [l for l in status.read_text().splitlines() if l.startswith('VmHWM:')] if status.exists() else []\n"
              "print(lines[0].split()[1] if lines else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", f"{code}\n{report}"], check=True, cwd=ROOT,
                            capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    peak = int(result.stdout.split()[-1])
    return (peak // 1024 if sys.platform == "darwin" else peak), elapsed  # macOS reports bytes, Linux KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", choices=list(MODEL_SIZES), default="124M")
    parser.add_argument("--dtype", choices=list(ITEM_SIZE), default="F32")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the temporary files")
    args = parser.parse_args()
    config = MODEL_SIZES[args.size]

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        (folder / "src").mkdir()
        source = write_checkpoint(folder / "src", config, args.dtype)
        checkpoint_bytes = source.stat().st_size
        print(f"wrote a random {args.size} {args.dtype} checkpoint: {checkpoint_bytes / 2**20:.0f} MiB "
              f"in {time.perf_counter() - started:.0f} s")

        baseline, _ = child_peak_kib("import potatogpt.convert.export")
        peak, elapsed = child_peak_kib(f"from potatogpt.convert.export import convert; convert({str(folder / 'src')!r}, "
                                       f"{str(folder / 'out')!r})")
        out_bytes = sum(p.stat().st_size for p in (folder / "out").iterdir())
        print(f"converted to {out_bytes / 2**20:.0f} MiB of float32 in {elapsed:.1f} s")
        print(f"peak RSS: {peak / 1024:.0f} MiB while converting ({baseline / 1024:.0f} MiB for the interpreter "
              f"and imports alone); the checkpoint is {checkpoint_bytes / 2**20:.0f} MiB, "
              f"{100 * peak * 1024 / checkpoint_bytes:.0f}% of it")


if __name__ == "__main__":
    main()
