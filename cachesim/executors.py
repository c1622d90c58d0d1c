"""Executors: who runs a sweep's tasks. One interface, three implementations.

A sweep is a list of small, picklable task arguments in and a stream of results out;
an executor only decides where each ``fn(arg)`` runs:

- :class:`SerialExecutor`: one after the other, in this process;
- :class:`ProcessExecutor`: a pool of local worker processes (all cores by default);
- :class:`DaskExecutor`: a Dask distributed cluster, an existing one (``tcp://host:8786``)
  or a ``LocalCluster`` started for the sweep. Dask schedules, retries the tasks of a
  lost worker (``retries=`` on submit) and moves the data; nothing here schedules.

:meth:`Executor.run` takes ``(index, arg)`` pairs lazily and yields an :class:`Outcome`
per task as it finishes (in any order), keeping only a bounded window of tasks in flight,
so the parent's memory does not grow with the number of tasks. Setting the ``stop``
event ends the iteration soon after: tasks not started are cancelled, finished ones
have been yielded. A task that raises is an Outcome with ``error`` set; the others go on.
"""

from __future__ import annotations

import concurrent.futures as cf
import gc
import multiprocessing
import os
import signal
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

__all__ = [
    "DaskExecutor",
    "Executor",
    "ExecutorError",
    "Outcome",
    "ProcessExecutor",
    "SerialExecutor",
    "make_executor",
]

#: How often a waiting executor looks at the stop event (seconds).
POLL_S = 0.2
#: The environment variable naming a Dask scheduler, as Dask itself reads it.
DASK_ENV = "DASK_SCHEDULER_ADDRESS"
DASK_MISSING = (
    "Dask is not installed: pip install 'dask[distributed]>=2024.8' "
    "(it is in requirements-dev.txt), or run without --dask"
)


class ExecutorError(RuntimeError):
    """An executor cannot start (Dask missing, a scheduler that does not answer)."""


@dataclass(frozen=True)
class Outcome:
    """One finished task: its index and value, or the error it raised (one line)."""

    index: int
    value: Any = None
    error: str | None = None


def error_line(exc: BaseException) -> str:
    """``TypeName: message`` on one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Executor(ABC):
    """Runs ``fn(arg)`` for each ``(index, arg)``; see the module docstring."""

    name = "executor"
    workers = 1

    @abstractmethod
    def run(
        self, fn: Callable[[Any], Any], tasks: Iterable[tuple[int, Any]], stop: threading.Event | None = None
    ) -> Iterator[Outcome]:
        """Yield one Outcome per task as tasks finish, until all are done or ``stop`` is set."""

    def close(self) -> None:
        """Release workers (a pool, a client, a cluster started for this executor)."""
        return None

    def describe(self) -> str:
        return f"{self.name} ({self.workers} worker{'s' if self.workers != 1 else ''})"

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(Executor):
    """Every task in this process, in order."""

    name = "serial"

    def run(
        self, fn: Callable[[Any], Any], tasks: Iterable[tuple[int, Any]], stop: threading.Event | None = None
    ) -> Iterator[Outcome]:
        for index, arg in tasks:
            if stop is not None and stop.is_set():
                return
            try:
                yield Outcome(index, fn(arg))
            except Exception as exc:  # a run that raises is reported; the sweep goes on
                yield Outcome(index, error=error_line(exc))


def _default_context() -> str:
    """``fork`` from a single-threaded process (fast: nothing to re-import); with other
    threads around (a Streamlit server) ``forkserver``, since forking a process whose
    other threads may hold locks is unsafe."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def _init_worker() -> None:
    """Workers leave Ctrl-C to the parent, which stops the sweep and keeps what finished;
    and move what they inherited out of the garbage collector's reach (``gc.freeze``), so
    collections do not copy the parent's pages that a fork shares."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.freeze()


class ProcessExecutor(Executor):
    """A pool of local worker processes, kept for the executor's life (an adaptive sweep
    reuses it between rounds)."""

    name = "processes"

    def __init__(
        self, workers: int | None = None, *, start_method: str | None = None, window: int | None = None
    ) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.start_method = start_method or _default_context()
        self.window = window or 2 * self.workers
        self._pool: cf.ProcessPoolExecutor | None = None

    def _get_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context(self.start_method)
            if self.start_method == "forkserver":
                ctx.set_forkserver_preload(["cachesim.sweeps"])
            self._pool = cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_init_worker)
        return self._pool

    def run(
        self, fn: Callable[[Any], Any], tasks: Iterable[tuple[int, Any]], stop: threading.Event | None = None
    ) -> Iterator[Outcome]:
        pool = self._get_pool()
        it = iter(tasks)
        pending: dict[cf.Future, int] = {}

        def fill() -> None:
            for index, arg in islice(it, max(0, self.window - len(pending))):
                pending[pool.submit(fn, arg)] = index

        fill()
        try:
            while pending:
                if stop is not None and stop.is_set():
                    return
                done, _ = cf.wait(pending, timeout=POLL_S, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    index = pending.pop(fut)
                    try:
                        yield Outcome(index, fut.result())
                    except cf.process.BrokenProcessPool as exc:
                        self._pool = None  # a worker died: later rounds get a new pool
                        yield Outcome(index, error=error_line(exc))
                    except Exception as exc:
                        yield Outcome(index, error=error_line(exc))
                if self._pool is None:
                    pool = self._get_pool()
                fill()
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _import_dask() -> Any:
    try:
        import dask.distributed as dd
    except ImportError:
        raise ExecutorError(DASK_MISSING) from None
    return dd


class DaskExecutor(Executor):
    """Tasks on a Dask cluster: ``address`` of a running scheduler (``tcp://host:8786``),
    or ``"local"`` for a ``LocalCluster`` started here (and closed with the executor).
    Each task is submitted with ``retries``, so a lost worker's tasks run again elsewhere.
    Workers need cachesim importable (installed, same version)."""

    name = "dask"

    def __init__(
        self,
        address: str | None = "local",
        *,
        n_workers: int | None = None,
        processes: bool = True,
        retries: int = 2,
        window: int | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        dd = _import_dask()
        self.retries = retries
        self._cluster = None
        address = (address or "").strip() or "local"
        try:
            if address == "local":
                self._cluster = dd.LocalCluster(
                    n_workers=n_workers or os.cpu_count() or 1,
                    threads_per_worker=1,
                    processes=processes,
                    dashboard_address=None,
                )
                self.client = dd.Client(self._cluster, set_as_default=False)
                self.address = "local"
            else:
                self.client = dd.Client(address, timeout=timeout_s, set_as_default=False)
                self.address = address
        except (OSError, TimeoutError, ValueError) as exc:
            if self._cluster is not None:
                self._cluster.close()
            raise ExecutorError(f"cannot reach the Dask scheduler at {address!r}: {error_line(exc)}") from None
        self.workers = max(1, sum(w.get("nthreads", 1) for w in self.client.scheduler_info()["workers"].values()))
        self.window = window or 4 * self.workers

    def describe(self) -> str:
        where = "LocalCluster" if self.address == "local" else self.address
        return f"dask at {where} ({self.workers} worker thread{'s' if self.workers != 1 else ''})"

    def run(
        self, fn: Callable[[Any], Any], tasks: Iterable[tuple[int, Any]], stop: threading.Event | None = None
    ) -> Iterator[Outcome]:
        dd = _import_dask()
        it = iter(tasks)
        batch = uuid.uuid4().hex[:12]
        pending: dict[Any, int] = {}

        def fill() -> None:
            for index, arg in islice(it, max(0, self.window - len(pending))):
                fut = self.client.submit(fn, arg, key=f"cachesim-run-{batch}-{index}", retries=self.retries, pure=False)
                pending[fut] = index

        fill()
        try:
            while pending:
                if stop is not None and stop.is_set():
                    return
                try:
                    with self.client.as_current():
                        done, _ = dd.wait(list(pending), timeout=POLL_S, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    continue
                for fut in done:
                    index = pending.pop(fut)
                    try:
                        value = fut.result()
                    except Exception as exc:
                        yield Outcome(index, error=error_line(exc))
                    else:
                        yield Outcome(index, value)
                    finally:
                        fut.release()
                fill()
        finally:
            if pending:
                self.client.cancel(list(pending))

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(jobs: int | None = None, dask: str | None = None) -> Executor:
    """The executor a user asked for: Dask when ``dask`` (an address or ``"local"``)
    is given or ``DASK_SCHEDULER_ADDRESS`` is set, else serial for ``jobs == 1``,
    else local processes (``jobs`` of them, all cores by default)."""
    address = dask if dask is not None else os.environ.get(DASK_ENV, "").strip() or None
    if address is not None:
        return DaskExecutor(address, n_workers=jobs)
    if jobs == 1:
        return SerialExecutor()
    return ProcessExecutor(jobs)
