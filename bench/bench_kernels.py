"""Benchmark and accuracy survey of the matrix-product kernels (a script, not a test).

    python3 bench/bench_kernels.py                 # everything, ~1-2 minutes
    python3 bench/bench_kernels.py --quick         # fewer repeats and configurations
    for py in python3.10 python3.11 python3.12 python3.13; do $py bench/bench_kernels.py; done

Speed: ns per multiply-add for a matrix-vector product of GPT-2 124M's c_fc shape (768 inputs,
3072 outputs) and for a 16-row prompt block, including all the Python around the kernel (scaling
and quantizing x, unpacking results).  The machine is shared, so every kernel is timed in
interleaved rounds and the best round is kept: compare kernels within one run.

Accuracy: every kernel against the exact dot product (each product split exactly into two floats
with Dekker's algorithm, then all pieces summed by math.fsum: the correctly rounded true value),
on seeded data shaped like GPT-2's: weights ~N(0, 0.02) and ~N(0, 0.2) with rare 10x outliers,
activations post-LayerNorm (N(0, 1), a few channels up to +-20) and post-GELU (3072 wide, up to
~+-10).  Errors are reported relative to sum_k |w_k x_k| (the natural scale of a dot product's
rounding error; a plain float64 loop is within n * 1.1e-16 of it) and, for the exact kernels,
as the absolute error too.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
import tracemalloc
from array import array
from collections.abc import Callable, Sequence
from itertools import repeat
from operator import mul
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from exact_reference import exact_dot  # noqa: E402
from potatogpt.fast import compact, exact, kernels, packed  # noqa: E402
from potatogpt.tensor import matmul  # noqa: E402

Rows = Sequence[Sequence[float]]
Kernel = Callable[[Rows], list[list[float]]]


# --- Data shaped like GPT-2's -------------------------------------------------------------------
def weights(rng: random.Random, n_in: int, n_out: int, sigma: float) -> list[list[float]]:
    """Columns of N(0, sigma) weights with one in a thousand a 10x outlier, rounded to float32
    (GPT-2's checkpoints are float32)."""
    flat = array("f", [rng.gauss(0.0, sigma) * (10.0 if rng.random() < 0.001 else 1.0) for _ in range(n_in * n_out)])
    return [flat[j * n_in : (j + 1) * n_in].tolist() for j in range(n_out)]


def post_layernorm(rng: random.Random, n: int) -> list[float]:
    """N(0, 1) with a few channels blown up to about +-20 (GPT-2's LayerNorm gains do this)."""
    x = [rng.gauss(0.0, 1.0) for _ in range(n)]
    for k in rng.sample(range(n), 4):
        x[k] = rng.choice((-1.0, 1.0)) * rng.uniform(8.0, 20.0)
    return x


def post_gelu(rng: random.Random, n: int) -> list[float]:
    """GELU of N(0, 1.5), plus a few large pre-activations (outputs up to ~+-10)."""

    def gelu(v: float) -> float:
        return 0.5 * v * (1.0 + math.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))

    pre = [rng.gauss(0.0, 1.5) for _ in range(n)]
    for k in rng.sample(range(n), 4):
        pre[k] = rng.uniform(-10.0, 10.0)
    return [gelu(v) for v in pre]


# --- The exact reference ------------------------------------------------------------------------
def scale(a: Sequence[float], b: Sequence[float]) -> float:
    return math.fsum(abs(u * v) for u, v in zip(a, b))


_F32 = array("f", [0.0])


def _f32(v: float) -> float:
    _F32[0] = v
    return _F32[0]


def float32_dot(a: Sequence[float], b: Sequence[float]) -> float:
    """What a float32 loop computes: inputs, every product and every partial sum rounded."""
    total = 0.0
    for u, v in zip(a, b):
        total = _f32(total + _f32(_f32(u) * _f32(v)))
    return total


# --- Candidate kernels (beyond what kernels.py ships) --------------------------------------------
def k_sum_map(columns: list[list[float]]) -> Kernel:
    def run(rows: Rows) -> list[list[float]]:
        return [[sum(map(mul, c, x)) for c in columns] for x in rows]

    return run


def k_sumprod(columns: list[list[float]]) -> Kernel:
    sumprod: Callable[[Sequence[float], Sequence[float]], float] = getattr(math, "sumprod")

    def run(rows: Rows) -> list[list[float]]:
        return [list(map(sumprod, columns, repeat(x))) for x in rows]

    return run


def k_fsum(columns: list[list[float]]) -> Kernel:
    def run(rows: Rows) -> list[list[float]]:
        return [[math.fsum(map(mul, c, x)) for c in columns] for x in rows]

    return run


def k_dist_plain(columns: Sequence[Sequence[float]]) -> Kernel:
    """The identity without scaling x (and with whatever sequence type `columns` holds)."""
    sq = [math.fsum(map(mul, c, c)) for c in columns]

    def run(rows: Rows) -> list[list[float]]:
        out = []
        for x in rows:
            xt = tuple(x)
            xx = math.fsum(map(mul, xt, xt))
            out.append([(n + xx - d * d) * 0.5 for n, d in zip(sq, map(math.dist, columns, repeat(xt)))])
        return out

    return run


def k_complex(columns: list[list[float]]) -> Kernel:
    """Pairs of weights as complex numbers: (w0 + i w1)(x0 - i x1) has real part w0 x0 + w1 x1, so
    sum(map(mul)) does half as many steps.  (sum() has no fast path for complex, though.)"""
    cc = [[complex(c[i], c[i + 1]) for i in range(0, len(c) - 1, 2)] for c in columns]
    odd = len(columns[0]) % 2 == 1

    def run(rows: Rows) -> list[list[float]]:
        out = []
        for x in rows:
            xc = [complex(x[i], -x[i + 1]) for i in range(0, len(x) - 1, 2)]
            if odd:
                out.append([sum(map(mul, c, xc)).real + cl[-1] * x[-1] for c, cl in zip(cc, columns)])
            else:
                out.append([sum(map(mul, c, xc)).real for c in cc])
        return out

    return run


def flat_of(columns: list[list[float]], typecode: str = "f") -> array[float]:
    return array(typecode, [v for c in columns for v in c])


def k_weight(weight: kernels.KernelWeight) -> Kernel:
    def run(rows: Rows) -> list[list[float]]:
        return kernels.matmul_weight(rows, weight)

    return run


# --- Measurement --------------------------------------------------------------------------------
def time_kernels(kernels_: dict[str, Kernel], rows: Rows, macs: int, rounds: int) -> dict[str, float]:
    """Best ns per multiply-add of each kernel over interleaved rounds."""
    best = {name: math.inf for name in kernels_}
    for _ in range(rounds):
        for name, run in kernels_.items():
            start = time.perf_counter()
            run(rows)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: t / macs * 1e9 for name, t in best.items()}


def errors(run: Kernel, rows: Rows, columns: list[list[float]]) -> tuple[float, float]:
    """(max error relative to sum|w x|, max absolute error) against the exact dot product."""
    out = run(rows)
    rel = absolute = 0.0
    for x, y in zip(rows, out):
        for c, v in zip(columns, y):
            err = abs(v - exact_dot(c, x))
            absolute = max(absolute, err)
            rel = max(rel, err / (scale(c, x) or 1.0))
    return rel, absolute


def bytes_per_param(build: Callable[[], object], params: int) -> float:
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return (after - before) / params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and configurations")
    args = parser.parse_args()
    rounds = 3 if args.quick else 7
    version = ".".join(map(str, sys.version_info[:3]))
    has_sumprod = hasattr(math, "sumprod")
    print(f"Python {version}  dot={'math.sumprod' if has_sumprod else 'sum(map(mul))'}")

    # ---- Speed: c_fc shape, one token and a 16-row prompt block
    rng = random.Random(2024)
    n_in, n_out = 768, 3072
    cols = weights(rng, n_in, n_out, 0.02)
    flat = flat_of(cols)
    x1 = [post_layernorm(rng, n_in)]
    x16 = [post_layernorm(rng, n_in) for _ in range(16)]
    candidates: dict[str, Kernel] = {"sum(map(mul))": k_sum_map(cols)}
    if has_sumprod:
        candidates["math.sumprod"] = k_sumprod(cols)
    candidates["complex pairs"] = k_complex(cols)
    candidates["dist identity, list columns"] = k_dist_plain(cols)
    candidates["ExactWeight (dist, tuples, scaled x)"] = k_weight(exact.prepare_exact_flat(flat, n_in, n_out))
    candidates["CompactWeight array('f')"] = k_weight(compact.prepare_compact(flat, n_in, n_out))
    default = (packed.FIELD_BYTES, packed.WEIGHT_BITS, packed.CHUNK)
    packed_configs = [default, (8, 28, default[2]), (6, 21, default[2])]
    if not args.quick:
        packed_configs += [(default[0], default[1], 512), (default[0], default[1], 1024)]
    for fb, wb, chunk in packed_configs:
        weight = packed._prepare_packed(flat, n_in, n_out, fb, wb, chunk)
        candidates[f"PackedWeight F={8 * fb} w={wb} chunk={chunk}"] = k_weight(weight)
    one = time_kernels(candidates, x1, n_in * n_out, rounds)
    block_names = [n for n in candidates if not n.startswith(("complex", "sum(map"))]
    block = time_kernels({n: candidates[n] for n in block_names}, x16, 16 * n_in * n_out, max(2, rounds // 2))

    # ---- Accuracy on several GPT-2-like distributions (smaller, the reference is slow)
    scenarios = [
        ("w~N(0,.02) x=LN 768", 768, 0.02, post_layernorm),
        ("w~N(0,.2) x=LN 768", 768, 0.2, post_layernorm),
        ("w~N(0,.02) x=GELU 3072", 3072, 0.02, post_gelu),
    ]
    worst: dict[str, tuple[float, float]] = {}
    f32_rel = 0.0
    for _, m_in, sigma, make_x in scenarios:
        erng = random.Random(7)
        ecols = weights(erng, m_in, 48, sigma)
        eflat = flat_of(ecols)
        erows = [make_x(erng, m_in) for _ in range(3)]
        f32_rel = max(
            f32_rel, max(abs(float32_dot(c, x) - exact_dot(c, x)) / scale(c, x) for x in erows for c in ecols)
        )
        ecands: dict[str, Kernel] = {"sum(map(mul))": k_sum_map(ecols)}
        if has_sumprod:
            ecands["math.sumprod"] = k_sumprod(ecols)
        ecands["math.fsum(map(mul))"] = k_fsum(ecols)
        ecands["complex pairs"] = k_complex(ecols)
        ecands["dist identity, list columns"] = k_dist_plain(ecols)
        ecands["ExactWeight (dist, tuples, scaled x)"] = k_weight(exact.prepare_exact_flat(eflat, m_in, 48))
        ecands["CompactWeight array('f')"] = k_weight(compact.prepare_compact(eflat, m_in, 48))
        for fb, wb, chunk in packed_configs:
            name = f"PackedWeight F={8 * fb} w={wb} chunk={chunk}"
            ecands[name] = k_weight(packed._prepare_packed(eflat, m_in, 48, fb, wb, chunk))
        for name, run in ecands.items():
            rel, absolute = errors(run, erows, ecols)
            old = worst.get(name, (0.0, 0.0))
            worst[name] = (max(old[0], rel), max(old[1], absolute))

    print(f"{'kernel':44} {'ns/MAC 1x768@768x3072':>22} {'ns/MAC 16 rows':>15} {'max rel err':>12} {'max abs err':>12}")
    for name in candidates:
        rel, absolute = worst.get(name, (math.nan, math.nan))
        blk = f"{block[name]:.2f}" if name in block else "-"
        print(f"{name:44} {one[name]:22.2f} {blk:>15} {rel:12.1e} {absolute:12.1e}")
    for name in worst:
        if name not in candidates:
            rel, absolute = worst[name]
            print(f"{name:44} {'-':>22} {'-':>15} {rel:12.1e} {absolute:12.1e}")
    print(f"{'(float32 loop, sequential sum: reference)':44} {'-':>22} {'-':>15} {f32_rel:12.1e} {'':>12}")

    # ---- Attention-shaped products: tensor.py's plain dot vs the identity
    arng = random.Random(3)
    keys = [[arng.gauss(0, 1) for _ in range(64)] for _ in range(256)]
    queries = [[arng.gauss(0, 1) for _ in range(64)] for _ in range(16)]
    plain: Kernel = lambda rows: matmul(rows, keys)  # noqa: E731
    ident: Kernel = lambda rows: exact.exact_matmul(rows, exact.prepare_exact(keys))  # noqa: E731
    print("attention q@K^T, 64-dim heads, 256 keys (ns/MAC; plain = tensor.matmul, identity = ExactWeight's path):")
    for t in (1, 2, 3, 4, 8, 16):
        res = time_kernels({"plain dot": plain, "identity": ident}, queries[:t], t * 64 * 256, rounds)
        print(f"  {t:2} rows: plain {res['plain dot']:6.2f}   identity {res['identity']:6.2f}")

    # ---- Memory
    mrng = random.Random(5)
    m_in, m_out = 768, 768
    mflat = array("f", [mrng.gauss(0, 0.02) for _ in range(m_in * m_out)])
    params = m_in * m_out
    print("memory, bytes/param (768x768, tracemalloc; flat array('f') input not counted unless kept):")
    print(f"  nested lists of floats        {bytes_per_param(lambda: [mflat[j*m_in:(j+1)*m_in].tolist() for j in range(m_out)], params):6.2f}")
    print(f"  ExactWeight (tuples)          {bytes_per_param(lambda: exact.prepare_exact_flat(mflat, m_in, m_out), params):6.2f}")
    print(f"  CompactWeight (keeps array f) {bytes_per_param(lambda: compact.prepare_compact(mflat, m_in, m_out), params) + 4:6.2f}")
    for fb, wb, chunk in packed_configs[:3]:
        bpp = bytes_per_param(lambda: packed._prepare_packed(mflat, m_in, m_out, fb, wb, chunk), params)
        print(f"  PackedWeight F={8 * fb} w={wb} chunk={chunk}  {bpp:6.2f}")


if __name__ == "__main__":
    main()
