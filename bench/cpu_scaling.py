"""How much faster do two processes run than one on this machine?  The ceiling for --jobs 2.

    python bench/cpu_scaling.py

Times a plain Python loop alone, then the same loop in two processes at once.
"""

from __future__ import annotations

import multiprocessing
import time


def spin(n: int) -> float:
    started = time.perf_counter()
    total = 0.0
    for i in range(n):
        total += i * 0.5
    return time.perf_counter() - started


def main() -> int:
    n = 20_000_000
    one = min(spin(n) for _ in range(2))
    with multiprocessing.Pool(2) as pool:
        started = time.perf_counter()
        pool.map(spin, [n, n])
        two = time.perf_counter() - started
    print(f"one process: {one:.2f} s; two at once: {two:.2f} s; two processes do {2 * one / two:.2f}x the work")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
