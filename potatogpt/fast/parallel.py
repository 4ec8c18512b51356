"""`--jobs N`: the big matrix products split across N processes.

CPython runs one thread of Python at a time, so using a second core takes a second process.
Each weight matrix is cut by output columns into N contiguous shards: this process keeps shard 0,
and worker k (1 .. N-1) loads shard k of every matrix from the weights folder itself, once, at
start-up.  Nothing big is ever pickled: per product, the workers get the input rows (a few KB)
and send back their slice of the output, while this process computes its own slice.  Results are
identical to one process: every output value is the same dot product, computed by the same kernel.
"""

from __future__ import annotations

import multiprocessing
import signal
from array import array
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.context import ForkContext, SpawnContext
from pathlib import Path

from . import kernels
from ..tensor import Storage, prepare
from ..weights import Checkpoint, WeightsError, expected_shape, open_checkpoint, tensor_names


def matrix_names(checkpoint: Checkpoint) -> list[str]:
    """The tensors that are matrices multiplied by `@` (wpe is only ever looked up by row)."""
    config = checkpoint.config
    return [n for n in tensor_names(config) if len(expected_shape(n, config)) == 2 and n != "wpe.weight"]


def shard_bounds(n_out: int, jobs: int) -> list[int]:
    """Where each of `jobs` shards of n_out output columns starts (plus the end)."""
    return [n_out * k // jobs for k in range(jobs + 1)]


def load_shard(checkpoint: Checkpoint, name: str, storage: Storage, shard: int, jobs: int) -> kernels.Weight:
    """Shard `shard` of a matrix: its stored rows (= output columns) in that shard's range."""
    n_out, n_in = checkpoint.shape(name)
    bounds = shard_bounds(n_out, jobs)
    if storage == "packed":  # issue #11: a slice of the cached matrix, when there is a packed.cache
        from .packed_cache import columns, read_cached_matrix  # (it imports this module)

        cached = read_cached_matrix(checkpoint, name)
        if cached is not None:
            return columns(cached, bounds[shard], bounds[shard + 1])
    whole = checkpoint.read(name)
    flat = whole[bounds[shard] * n_in : bounds[shard + 1] * n_in]
    width = bounds[shard + 1] - bounds[shard]
    if storage == "packed":
        # Packed products scale x by a bound over the whole matrix: give each shard that bound,
        # or the shards would round x differently from one process.
        return kernels.prepare_packed(flat, n_in, width, kernels.packed_input_bounds(whole, n_in, n_out))
    return prepare(flat, n_in, width, storage)


def _worker_main(conn: Connection, folder: str, storage: Storage, shard: int, jobs: int) -> None:
    """A worker: load shard `shard` of every matrix, then answer requests until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        checkpoint = open_checkpoint(folder)
        with kernels.no_cyclic_gc():
            weights = {name: load_shard(checkpoint, name, storage, shard, jobs) for name in matrix_names(checkpoint)}
    except (WeightsError, OSError, MemoryError) as e:
        conn.send(("error", f"worker {shard}: {e}"))
        return
    conn.send(("ready", ""))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the parent has gone
        if request is None:
            return
        kind, name, payload = request
        if kind == "matmul":
            rows = unpack_rows(conn.recv_bytes(), payload)
            conn.send_bytes(pack_rows(kernels.matmul_weight(rows, weights[name])))
        else:  # "column"
            conn.send(kernels.weight_column(weights[name], payload))


# Rows of floats travel as raw float64 bytes rather than pickled lists: pickle spends ~40 ns on
# every float each way, which cost a tenth of the time --jobs 2 saved.
def pack_rows(rows: Sequence[Sequence[float]]) -> bytes:
    return array("d", [v for row in rows for v in row]).tobytes()


def unpack_rows(data: bytes, n_rows: int) -> list[list[float]]:
    values = array("d", data).tolist() if data else []
    width = len(values) // n_rows if n_rows else 0
    return [values[i * width : (i + 1) * width] for i in range(n_rows)]


class WorkerPool:
    """N-1 worker processes, each holding one shard of every weight matrix."""

    def __init__(self, checkpoint: Checkpoint, storage: Storage, jobs: int) -> None:
        if jobs < 2:
            raise ValueError(f"a worker pool needs jobs >= 2, not {jobs}")
        self.checkpoint = checkpoint
        self.storage = storage
        self.jobs = jobs
        # fork is quickest where it exists; workers load their own shards after starting,
        # so nothing large is shared or copied either way.
        if "fork" in multiprocessing.get_all_start_methods():
            context: ForkContext | SpawnContext = multiprocessing.get_context("fork")
        else:
            context = multiprocessing.get_context("spawn")
        self.connections: list[Connection] = []
        self.processes = []
        for shard in range(1, jobs):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_worker_main,
                args=(theirs, str(checkpoint.folder), storage, shard, jobs),
                daemon=True,  # never outlive the parent
            )
            process.start()
            theirs.close()
            self.connections.append(ours)
            self.processes.append(process)

    def wait_until_ready(self) -> None:
        """Block until every worker has loaded its shards (they load while we load ours)."""
        for conn in self.connections:
            try:
                status, message = conn.recv()
            except EOFError:
                status, message = "error", "a worker process died while loading (out of memory?)"
            if status != "ready":
                self.close()
                raise WeightsError(f"--jobs: {message}")

    def weight(self, name: str) -> ShardedWeight:
        """Shard 0 of a matrix, held here, joined with the workers' shards."""
        n_out, n_in = self.checkpoint.shape(name)
        local = load_shard(self.checkpoint, name, self.storage, 0, self.jobs)
        return ShardedWeight(self, name, local, n_in, shard_bounds(n_out, self.jobs))

    def close(self) -> None:
        for conn in self.connections:
            try:
                conn.send(None)
                conn.close()
            except OSError:
                pass
        for process in self.processes:
            process.join(timeout=2)
            if process.is_alive():
                process.terminate()
        self.connections = []
        self.processes = []


class ShardedWeight:
    """A PreparedWeight (see tensor.py) whose output columns are spread over a WorkerPool."""

    def __init__(self, pool: WorkerPool, name: str, local: kernels.Weight, n_in: int, bounds: list[int]) -> None:
        self.pool = pool
        self.name = name
        self.local = local
        self.n_in = n_in
        self.n_out = bounds[-1]
        self.bounds = bounds

    def matmul(self, rows: Sequence[Sequence[float]]) -> list[list[float]]:
        data = pack_rows(rows)
        for conn in self.pool.connections:  # the workers start on their shards ...
            conn.send(("matmul", self.name, len(rows)))
            conn.send_bytes(data)
        out = kernels.matmul_weight(rows, self.local)  # ... while we do ours
        for conn in self.pool.connections:
            for row, part in zip(out, unpack_rows(conn.recv_bytes(), len(rows))):
                row.extend(part)
        return out

    def column(self, j: int) -> list[float]:
        if not 0 <= j < self.n_out:
            raise IndexError(f"column {j} out of range for {self.n_out} outputs")
        shard = next(k for k in range(self.pool.jobs) if j < self.bounds[k + 1])
        if shard == 0:
            return kernels.weight_column(self.local, j)
        conn = self.pool.connections[shard - 1]
        conn.send(("column", self.name, j - self.bounds[shard]))
        column: list[float] = conn.recv()
        return column

    def columns(self) -> list[list[float]]:
        return [self.column(j) for j in range(self.n_out)]
