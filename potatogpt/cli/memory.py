"""Will the model fit?  A check before a load that would otherwise end, minutes later, with the
kernel killing the process for want of memory.

Peak memory grows with the number of parameters at a rate set by how the weights are held: a
Python float in a tuple costs 8 bytes of pointer plus a 24-byte float object, a packed field 7
bytes, a float32 in an array 4.  The rates below are fitted to the peak RSS that
`python bench/bench.py` measured for 124M, 355M and 774M (README, Performance): peak ~ BASE +
rate x parameters, plus a little per extra --jobs process.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..api import STORAGE_FLAGS, Storage
from ..config import GPT2Config
from ..weights.catalogue import parameter_count

GIB = 1 << 30
BYTES_PER_PARAMETER: dict[Storage, float] = {"exact": 40.5, "packed": 7.8, "compact": 4.6, "reference": 42.5}
BASE_BYTES = 200 * 10**6  # the interpreter, the tokenizer, activations and the KV cache
WORKER_BYTES = 150 * 10**6  # each extra --jobs process: its own interpreter and buffers
# Tests (and the curious) can pretend the machine has this many bytes available.
OVERRIDE_VARIABLE = "POTATOGPT_MEMORY_AVAILABLE"


def estimate_peak_bytes(parameters: int, storage: Storage, jobs: int = 1) -> int:
    """About the most memory loading and running this model will take, in bytes."""
    return round(BASE_BYTES + parameters * BYTES_PER_PARAMETER[storage] + (jobs - 1) * WORKER_BYTES)


def available_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """Memory the system can give a new process without swapping (Linux's MemAvailable), or
    None where that cannot be read (other systems: then we don't guess)."""
    override = os.environ.get(OVERRIDE_VARIABLE)
    if override:
        try:
            return int(override)
        except ValueError:
            return None
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def refusal(config: GPT2Config, storage: Storage, jobs: int, available: int | None) -> str | None:
    """One line saying why this won't fit and which mode would, or None if it fits (or if the
    available memory is unknown)."""
    if available is None:
        return None
    parameters = parameter_count(config)
    jobs = min(jobs, config.n_embd)  # the most processes a pool starts: one output column each (see fast/parallel.py)
    need = estimate_peak_bytes(parameters, storage, jobs)
    if need <= available:
        return None
    if jobs > 1 and estimate_peak_bytes(parameters, storage) <= available:
        return (f"--jobs {jobs} needs about {need / GIB:.1f} GiB ({jobs - 1} more processes) but only "
                f"{available / GIB:.1f} GiB is available: use fewer --jobs (or --skip-memory-check to try anyway)")
    fits = [f"{_mode(s)} (~{estimate_peak_bytes(parameters, s, jobs) / GIB:.1f} GiB)"
            for s in ("packed", "compact") if s != storage and estimate_peak_bytes(parameters, s, jobs) <= available]
    advice = f"use {' or '.join(fits)}" if fits else "no storage fits; try a smaller --model"
    return (f"this model needs about {need / GIB:.1f} GiB in {_mode(storage)} but only {available / GIB:.1f} GiB "
            f"is available: {advice} (or --skip-memory-check to try anyway)")


def _mode(storage: Storage) -> str:
    return STORAGE_FLAGS[storage] or "the default storage (exact)"


# Training holds more than the weights: every parameter's gradient (a float in a list), AdamW's
# two moments, a flat copy of the gradients for AdamW, and the copies one tensor's update makes on
# the way.  Fitted to the peak RSS of one fine-tuning step of 124M (18.2 GB; docs/training.md).
TRAINING_BYTES_PER_PARAMETER = 146.0


def training_refusal(config: GPT2Config, available: int | None) -> str | None:
    """One line saying why training this model won't fit, and what would; None if it fits (or the
    available memory is unknown)."""
    if available is None:
        return None
    parameters = parameter_count(config)
    need = round(BASE_BYTES + parameters * TRAINING_BYTES_PER_PARAMETER)
    if need <= available:
        return None
    largest = int((available - BASE_BYTES) / TRAINING_BYTES_PER_PARAMETER)
    return (f"training this model needs about {need / GIB:.1f} GiB (weights, gradients and AdamW's moments) but "
            f"only {available / GIB:.1f} GiB is available: a model of up to ~{max(largest, 0) / 1e6:.0f}M parameters "
            "would fit (or --skip-memory-check to try anyway)")
