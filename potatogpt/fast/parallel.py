"""`--jobs N`: the big matrix products split across N processes.

CPython runs one thread of Python at a time, so using a second core takes a second process.
Each weight matrix is cut by output columns into N contiguous shards: this process keeps shard 0,
and worker k (1 .. N-1) loads shard k of every matrix from the weights folder itself, once, at
start-up.  Nothing big is ever pickled: per product, the workers get the input rows (a few KB)
and send back their slice of the output, while this process computes its own slice.  Results are
identical to one process: every output value is the same dot product, computed by the same kernel.

Workers must never outlive this process, never mix up two requests, and never leave a caller
waiting forever: each exits by itself once its parent is gone (however it went), one lock covers
a request and its replies, and an interrupted request is settled before the next one (see
WorkerPool.ask).  Whatever cannot be settled closes the pool with a one-line WorkerError.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkContext, SpawnContext
from multiprocessing.process import BaseProcess
from typing import TypeVar

from ..cli.console import TERMINATION_SIGNALS
from ..weights.catalogue import WeightsError, matrix_names
from ..weights.checkpoint import Checkpoint, open_checkpoint
from .gc import no_cyclic_gc
from .kernels import KernelWeight, matmul_weight, weight_column
from .packed import packed_input_bounds, packed_shard, prepare_packed
from .packed_cache import read_cached_matrix
from .storage import FastStorage, prepare

Local = TypeVar("Local")
Reply = TypeVar("Reply")
# How long an interrupted product may take to finish in the workers before the pool is given up.
COLLECT_SECONDS = 30.0


def shard_bounds(n_out: int, jobs: int) -> list[int]:
    """Where each of `jobs` shards of n_out output columns starts (plus the end)."""
    return [n_out * k // jobs for k in range(jobs + 1)]


def load_shard(checkpoint: Checkpoint, name: str, storage: FastStorage, shard: int, jobs: int) -> KernelWeight:
    """Shard `shard` of a matrix: its stored rows (= output columns) in that shard's range."""
    n_out, n_in = checkpoint.shape(name)
    bounds = shard_bounds(n_out, jobs)
    if storage == "packed":  # issue #11: a slice of the cached matrix, when there is a packed.cache
        cached = read_cached_matrix(checkpoint, name)
        if cached is not None:
            return packed_shard(cached, bounds[shard], bounds[shard + 1])
    whole = checkpoint.read(name)
    flat = whole[bounds[shard] * n_in : bounds[shard + 1] * n_in]
    width = bounds[shard + 1] - bounds[shard]
    if storage == "packed":
        # Packed products scale x by a bound over the whole matrix: give each shard that bound,
        # or the shards would round x differently from one process.
        return prepare_packed(flat, n_in, width, packed_input_bounds(whole, n_in, n_out))
    return prepare(flat, n_in, width, storage)


def _worker_main(conn: Connection, inherited: list[Connection], folder: str, storage: FastStorage,
                 shard: int, jobs: int) -> None:
    """A worker: load shard `shard` of every matrix, then answer requests until told to stop."""
    # A forked worker starts with copies of the parent's ends of every pipe made so far,
    # its own included.  While any copy is open, the pipe never reports end-of-file, so a
    # worker whose parent was killed would wait forever: close them first.
    for other in inherited:
        other.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    for signum in TERMINATION_SIGNALS:  # and not the parent's handlers, inherited by fork
        signal.signal(signum, signal.SIG_DFL)
    _exit_with_parent()
    try:
        try:
            checkpoint = open_checkpoint(folder)
            with no_cyclic_gc():
                weights = {name: load_shard(checkpoint, name, storage, shard, jobs)
                           for name in matrix_names(checkpoint.config)}
        except (WeightsError, OSError, MemoryError) as e:
            conn.send(("error", f"worker {shard}: {e}"))
            return
        conn.send(("ready", ""))
        _serve(conn, weights)
    except BaseException:
        # The parent reports a lost worker in one line; a traceback from here would only
        # interleave with its output.
        os._exit(1)


def _serve(conn: Connection, weights: dict[str, KernelWeight]) -> None:
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
            conn.send_bytes(pack_rows(matmul_weight(rows, weights[name])))
        else:  # "column"
            conn.send(weight_column(weights[name], payload))


def _exit_with_parent() -> None:
    """Exit as soon as the parent process is gone, however it went (even SIGKILL).

    A worker busy loading its shards is not reading its pipe, so end-of-file alone is not
    enough.  A watchdog thread checks twice a second: on POSIX an orphan is adopted by
    another process (its parent pid changes); multiprocessing's parent sentinel covers Windows.
    """
    parent_pid = os.getppid()
    parent = multiprocessing.parent_process()
    sentinel = [parent.sentinel] if parent is not None and parent.sentinel is not None else []

    def watch() -> None:
        while os.getppid() == parent_pid:
            if sentinel:
                if wait(sentinel, timeout=0.5):
                    break
            else:
                time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


# Rows of floats travel as raw float64 bytes rather than pickled lists: pickle spends ~40 ns on
# every float each way, which cost a tenth of the time --jobs 2 saved.
def pack_rows(rows: Sequence[Sequence[float]]) -> bytes:
    return array("d", [v for row in rows for v in row]).tobytes()


def unpack_rows(data: bytes, n_rows: int) -> list[list[float]]:
    values = array("d", data).tolist() if data else []
    width = len(values) // n_rows if n_rows else 0
    return [values[i * width : (i + 1) * width] for i in range(n_rows)]


class WorkerError(RuntimeError):
    """The --jobs workers can no longer answer; the message is one line saying what happened."""


class WorkerPool:
    """N-1 worker processes, each holding one shard of every weight matrix.

    Safe to share between threads: one lock covers each request and its replies, so two
    products never interleave their messages on a pipe.
    """

    def __init__(self, checkpoint: Checkpoint, storage: FastStorage, jobs: int) -> None:
        if jobs < 2:
            raise ValueError(f"a worker pool needs jobs >= 2, not {jobs}")
        self.checkpoint = checkpoint
        self.storage: FastStorage = storage
        # A shard needs at least one output column: more jobs than the narrowest matrix has
        # outputs (possible with a tiny model) could only add empty shards.
        self.jobs = min(jobs, min(checkpoint.shape(name)[0] for name in matrix_names(checkpoint.config)))
        self._lock = threading.RLock()  # re-entered when a failing request closes the pool
        self._closed_because: str | None = None
        # Left behind by an interrupted request (see ask): replies not yet read, and whether a
        # message was half sent or half read.
        self._owed: list[tuple[Connection, Callable[[Connection], object]]] = []
        self._mid_message = False
        # fork is quickest where it exists; workers load their own shards after starting,
        # so nothing large is shared or copied either way.
        if "fork" in multiprocessing.get_all_start_methods():
            context: ForkContext | SpawnContext = multiprocessing.get_context("fork")
        else:
            context = multiprocessing.get_context("spawn")
        forking = isinstance(context, ForkContext)
        self.connections: list[Connection] = []
        self.processes: list[BaseProcess] = []
        try:
            for shard in range(1, self.jobs):
                ours, theirs = context.Pipe()
                # (A spawned worker inherits nothing, and must not be handed our ends.)
                inherited = [*self.connections, ours] if forking else []
                process = context.Process(
                    target=_worker_main,
                    args=(theirs, inherited, str(checkpoint.folder), storage, shard, self.jobs),
                    daemon=True,  # stopped by multiprocessing when this process exits normally
                )
                self.connections.append(ours)
                try:
                    process.start()
                finally:
                    theirs.close()
                self.processes.append(process)
        except OSError as e:  # out of file descriptors or processes
            self.close()
            raise WorkerError(f"--jobs {jobs}: cannot start worker {len(self.processes) + 1} ({e.strerror or e}); "
                              "use fewer --jobs") from None

    def wait_until_ready(self) -> None:
        """Block until every worker has loaded its shards (they load while we load ours)."""
        for conn in self.connections:
            try:
                status, message = conn.recv()
            except (EOFError, OSError):
                status, message = "error", "a worker process died while loading (out of memory?)"
            if status != "ready":
                self.close()
                raise WeightsError(f"--jobs: {message}")

    def weight(self, name: str) -> ShardedWeight:
        """Shard 0 of a matrix, held here, joined with the workers' shards."""
        n_out, n_in = self.checkpoint.shape(name)
        local = load_shard(self.checkpoint, name, self.storage, 0, self.jobs)
        return ShardedWeight(self, name, local, n_in, shard_bounds(n_out, self.jobs))

    def ask(self, conns: Sequence[Connection], send: Callable[[Connection], None],
            work_here: Callable[[], Local], receive: Callable[[Connection], Reply]) -> tuple[Local, list[Reply]]:
        """Send a request to each of `conns`, do our own share meanwhile, collect their replies.

        A Ctrl-C can land anywhere in here.  What it interrupts is recorded on the pool, not in
        local variables, and the next request settles it first: replies still owed are read and
        dropped, and if the pipes may hold half a message the pool is closed with a WorkerError
        that says why.  Either way no request ever reads another request's reply.
        """
        with self._lock:
            self._settle()
            replies: list[Reply] = []
            try:
                for conn in conns:
                    self._mid_message = True
                    send(conn)
                    self._owed.append((conn, receive))
                    self._mid_message = False
                mine = work_here()
                for conn in conns:
                    wait([conn])  # a Ctrl-C usually lands here, while nothing has been read
                    self._mid_message = True
                    replies.append(receive(conn))
                    del self._owed[0]
                    self._mid_message = False
            except (EOFError, OSError):
                self._shut("a worker process died")
                raise WorkerError("--jobs: a worker process died (killed, or out of memory?); "
                                  "run again, perhaps with fewer --jobs") from None
            return mine, replies

    def _settle(self) -> None:
        """Make the pipes clean for a new request, or close the pool and say why not."""
        if self._closed_because is None and self._mid_message:
            self._shut("interrupted in the middle of a message")
        if self._closed_because is not None:
            raise self._stopped()
        try:
            while self._owed:
                conn, receive = self._owed[0]
                if not conn.poll(COLLECT_SECONDS):
                    raise EOFError
                receive(conn)  # the reply to an interrupted request: drop it
                del self._owed[0]
        except (EOFError, OSError):
            self._shut("a worker did not finish an interrupted request")
            raise self._stopped() from None

    def _stopped(self) -> WorkerError:
        return WorkerError(f"--jobs: the worker processes were stopped ({self._closed_because}); load the model again")

    def _shut(self, reason: str) -> None:
        self._closed_because = reason
        self.close()

    def close(self) -> None:
        """Stop the workers; later requests raise WorkerError."""
        with self._lock:  # never in the middle of another thread's request
            self._close()

    def _close(self) -> None:
        if self._closed_because is None:
            self._closed_because = "the model was closed"
        for conn in self.connections:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
            conn.close()
        for process in self.processes:
            process.join(timeout=2)
            if process.is_alive():
                process.terminate()
                process.join(timeout=2)
        self.connections = []
        self.processes = []


class ShardedWeight:
    """A tensor.FastMatrix whose output columns are spread over a WorkerPool."""

    def __init__(self, pool: WorkerPool, name: str, local: KernelWeight, n_in: int, bounds: list[int]) -> None:
        self.pool = pool
        self.name = name
        self.local = local
        self.n_in = n_in
        self.n_out = bounds[-1]
        self.bounds = bounds

    def matmul(self, rows: Sequence[Sequence[float]]) -> list[list[float]]:
        data = pack_rows(rows)

        def send(conn: Connection) -> None:
            conn.send(("matmul", self.name, len(rows)))
            conn.send_bytes(data)

        def receive(conn: Connection) -> list[list[float]]:
            return unpack_rows(conn.recv_bytes(), len(rows))

        # The workers start on their shards while we do ours.
        out, parts = self.pool.ask(self.pool.connections, send, lambda: matmul_weight(rows, self.local),
                                   receive)
        for part in parts:
            for row, piece in zip(out, part):
                row.extend(piece)
        return out

    def column(self, j: int) -> list[float]:
        if not 0 <= j < self.n_out:
            raise IndexError(f"column {j} out of range for {self.n_out} outputs")
        shard = next(k for k in range(self.pool.jobs) if j < self.bounds[k + 1])
        if shard == 0:
            return weight_column(self.local, j)

        def receive(conn: Connection) -> list[float]:
            column: list[float] = conn.recv()
            return column

        conn = self.pool.connections[shard - 1]
        _, (column,) = self.pool.ask([conn], lambda c: c.send(("column", self.name, j - self.bounds[shard])),
                                     lambda: None, receive)
        return column
