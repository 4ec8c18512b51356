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
WorkerPool.ask).  Ctrl-C is held back while a message is on its way, so a pipe is never left
holding half of one; a pool that still cannot be settled (a worker stuck on an abandoned product)
starts fresh workers instead.  Only a worker that died is a one-line WorkerError.
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

from ..cli.console import TERMINATION_SIGNALS, interrupts_deferred
from ..weights.catalogue import WeightsError, matrix_names
from ..weights.checkpoint import Checkpoint, open_checkpoint
from .gc import no_cyclic_gc
from .kernels import KernelWeight, matmul_weight, weight_column
from .packed import packed_input_bounds, packed_shard, prepare_packed
from .packed_cache import read_cached_matrix
from .storage import FastStorage, prepare

Local = TypeVar("Local")
Reply = TypeVar("Reply")
# How long the reply to an interrupted product is waited for before its workers are replaced
# (loading their shards again takes seconds; a big prompt's product could take minutes).
COLLECT_SECONDS = 10.0


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
    # Ctrl-C goes to the whole terminal's process group, but it is the parent's to handle.  (Until
    # this line a forked worker has the parent's handlers, which hold Ctrl-C back: see start.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in TERMINATION_SIGNALS:  # and not the parent's handlers, inherited by fork
        signal.signal(signum, signal.SIG_DFL)
    # A forked worker starts with copies of the parent's ends of every pipe made so far,
    # its own included.  While any copy is open, the pipe never reports end-of-file, so a
    # worker whose parent was killed would wait forever: close them first.
    for other in inherited:
        other.close()
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
        self._ready = False  # every worker has said it has loaded its shards
        self._restarting = False  # set while new workers start: still set later if that was cut short
        # fork is quickest where it exists; workers load their own shards after starting,
        # so nothing large is shared or copied either way.
        if "fork" in multiprocessing.get_all_start_methods():
            self._context: ForkContext | SpawnContext = multiprocessing.get_context("fork")
        else:
            self._context = multiprocessing.get_context("spawn")
        self.connections: list[Connection] = []
        self.processes: list[BaseProcess] = []
        self._start()

    def _start(self) -> None:
        """Start the worker processes (they load their shards while we go on)."""
        forking = isinstance(self._context, ForkContext)
        try:
            for shard in range(1, self.jobs):
                ours, theirs = self._context.Pipe()
                # (A spawned worker inherits nothing, and must not be handed our ends.)
                inherited = [*self.connections, ours] if forking else []
                process = self._context.Process(
                    target=_worker_main,
                    args=(theirs, inherited, str(self.checkpoint.folder), self.storage, shard, self.jobs),
                    daemon=True,  # stopped by multiprocessing when this process exits normally
                )
                self.connections.append(ours)
                try:
                    # A Ctrl-C now would reach the new process before it ignores Ctrl-C (its
                    # first act), and end it with a traceback: let the fork finish first.
                    with interrupts_deferred():
                        process.start()
                finally:
                    theirs.close()
                self.processes.append(process)
        except OSError as e:  # out of file descriptors or processes
            self.close()
            raise WorkerError(f"--jobs {self.jobs}: cannot start worker {len(self.processes) + 1} "
                              f"({e.strerror or e}); use fewer --jobs") from None

    def wait_until_ready(self) -> None:
        """Block until every worker has loaded its shards (they load while we load ours)."""
        for conn, process in zip(self.connections, self.processes):
            try:
                wait([conn, process.sentinel])  # (a worker that died never answers)
                with interrupts_deferred():
                    status, message = conn.recv() if conn.poll() else ("error", "")
            except (EOFError, OSError):
                status, message = "error", ""
            if status != "ready":
                self.close()
                raise WeightsError(f"--jobs: {message or 'a worker process died while loading (out of memory?)'}")
        self._ready = True

    def weight(self, name: str) -> ShardedWeight:
        """Shard 0 of a matrix, held here, joined with the workers' shards."""
        n_out, n_in = self.checkpoint.shape(name)
        local = load_shard(self.checkpoint, name, self.storage, 0, self.jobs)
        return ShardedWeight(self, name, local, n_in, shard_bounds(n_out, self.jobs))

    def ask(self, workers: Sequence[int], send: Callable[[Connection], None],
            work_here: Callable[[], Local], receive: Callable[[Connection], Reply]) -> tuple[Local, list[Reply]]:
        """Send a request to each of `workers` (0 .. jobs-2), do our own share meanwhile, collect
        their replies.

        A Ctrl-C can land anywhere in here.  While a message goes out or comes in it waits
        (interrupts_deferred), so the pipes only ever hold whole messages; elsewhere it lands
        at once, and what it interrupts is recorded on the pool, not in local variables: the
        next request settles it first (see _settle).  No request ever reads another's reply.
        """
        with self._lock:
            self._settle()
            conns = [self.connections[k] for k in workers]  # (after _settle: it may start new workers)
            replies: list[Reply] = []
            try:
                for conn in conns:
                    with interrupts_deferred():  # a message goes out whole
                        self._mid_message = True
                        send(conn)
                        self._owed.append((conn, receive))
                        self._mid_message = False
                mine = work_here()
                for conn in conns:
                    wait([conn])  # a Ctrl-C usually lands here, while nothing has been read
                    with interrupts_deferred():  # and a reply comes in whole
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
        """Make the pipes clean for a new request: read and drop the replies an interrupted
        request left behind, or start fresh workers if that cannot be done."""
        if self._closed_because is not None:
            raise self._stopped()
        if self._mid_message or self._restarting:  # half a message (an exception, never a Ctrl-C), or a restart cut short
            self._restart()
            return
        if not self._ready:
            self.wait_until_ready()
        try:
            while self._owed:
                conn, receive = self._owed[0]
                process = self.processes[self.connections.index(conn)]
                if not wait([conn, process.sentinel], COLLECT_SECONDS):
                    self._restart()  # still busy with a product nobody wants any more
                    return
                if not conn.poll():
                    raise EOFError  # the sentinel: the worker is gone
                with interrupts_deferred():
                    self._mid_message = True
                    receive(conn)  # the reply to an interrupted request: drop it
                    del self._owed[0]
                    self._mid_message = False
        except (EOFError, OSError):
            self._shut("a worker process died")
            raise WorkerError("--jobs: a worker process died (killed, or out of memory?); "
                              "run again, perhaps with fewer --jobs") from None

    def _restart(self) -> None:
        """Replace the workers with fresh ones, which load their shards again (Ctrl-C may cut
        this short too: the next request then starts over)."""
        self._restarting, self._ready = True, False
        self._stop_workers(busy=True)
        self._owed, self._mid_message = [], False
        self._start()
        try:
            self.wait_until_ready()
        except WeightsError as e:
            raise WorkerError(str(e)) from None
        self._restarting = False

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
        self._stop_workers(busy=False)

    def _stop_workers(self, busy: bool) -> None:
        """Ask each worker to stop (or, if `busy`, stop it at once) and wait for it to go."""
        with interrupts_deferred():  # every pipe closed here, none left to a finalizer
            for conn in self.connections:
                try:
                    if not busy:
                        conn.send(None)
                except (OSError, ValueError):
                    pass
                conn.close()
            self.connections = []
        processes, self.processes = self.processes, []
        for process in processes:
            if busy:
                process.kill()  # (SIGKILL: a stopped process takes no other signal)
            process.join(timeout=2)
            if process.is_alive():
                process.kill()
                process.join(timeout=2)


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
        out, parts = self.pool.ask(range(self.pool.jobs - 1), send, lambda: matmul_weight(rows, self.local),
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

        _, (column,) = self.pool.ask([shard - 1], lambda c: c.send(("column", self.name, j - self.bounds[shard])),
                                     lambda: None, receive)
        return column
