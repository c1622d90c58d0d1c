"""Runs beside the page: a worker thread per live run, owned by the browser session.

Why a thread and not a process: the engine is pure Python and the page reads the run's
snapshots in-process (the LiveRun's ring buffers, the Simulation's snapshot list,
``result()`` at any moment). A process would have to ship every snapshot and the final
result across a pipe and would cost a second interpreter (~110 MB with pandas and
pydantic) per run; a thread shares memory, starts in microseconds, and is stopped by
a flag. The price is the GIL: the worker simulates in bounded slices (SLICE_S) and
rests a little after each (REST_S), so the pages' own threads, and other sessions'
live refreshes, get the interpreter several times a second.

One lock (``RunWorker.lock``) is held around every call that reads or advances the
Simulation (``LiveRun.advance``, ``result()``, the page's reading of the ring
buffers), so a click never finds the run mid-step. ``stop()`` does not wait for the
lock: it sets the worker's flag and calls ``Simulation.stop()``, which only sets a
flag the engine checks (thread-safe by contract), so Stop acts at the end of the
current slice: at most one snapshot interval, and within a bounded number of events
once the engine checks its flag inside an interval.

Process-wide, at most ``max_concurrent_runs`` workers simulate at once
(:class:`RunSlots`); the others wait, queued, and the page says so. A worker whose
session has gone (the browser tab closed: the session's state object was freed, or
Streamlit's runtime no longer lists the session for GRACE_S) stops and drops its run,
so its memory is freed.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable

from .runner import LiveRun

log = logging.getLogger(__name__)

#: Wall seconds of simulation per slice; Stop acts within one slice (plus one snapshot
#: interval until the engine checks its stop flag inside an interval).
SLICE_S = 0.05
#: Wall seconds the worker rests after a slice, so other threads get the interpreter.
REST_S = 0.01
#: A session the runtime no longer lists for this long is gone. A busy server drops
#: websockets and the browser reconnects (seen here: a session away for over 5 s at a
#: load average of 14 on 2 cores, its run stopped as if its tab had closed), so the
#: grace is a minute: a closed tab's run costs at most that much more CPU.
GRACE_S = 60.0
#: How long a worker waits for a slot before it looks at its stop flag again.
POLL_S = 0.1


class RunSlots:
    """At most ``limit`` runs advance at once in the process; the others queue (FIFO).

    The one piece of process-wide mutable state of the app: it is the shared resource
    itself (the CPU), so it cannot be per session. It holds no session data.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self._cond = threading.Condition()
        self._busy = 0
        self._queue: deque[object] = deque()

    def acquire(self, who: object, cancelled: Callable[[], bool], poll_s: float = POLL_S) -> bool:
        """Wait for a slot (first come, first served); False if ``cancelled()`` first."""
        with self._cond:
            self._queue.append(who)
            try:
                while not (self._busy < self.limit and self._queue[0] is who):
                    if cancelled():
                        return False
                    self._cond.wait(poll_s)
                self._busy += 1
                return True
            finally:
                self._queue.remove(who)
                self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            self._busy = max(0, self._busy - 1)
            self._cond.notify_all()

    def position(self, who: object) -> int | None:
        """1 for the next to run, ...; None if not queued."""
        with self._cond:
            try:
                return self._queue.index(who) + 1
            except ValueError:
                return None

    @property
    def busy(self) -> int:
        return self._busy


_slots_lock = threading.Lock()
_slots: dict[int, RunSlots] = {}


def process_slots(limit: int) -> RunSlots:
    """The process's run slots (one RunSlots per limit value, made on first use)."""
    with _slots_lock:
        if limit not in _slots:
            _slots[limit] = RunSlots(limit)
        return _slots[limit]


def runtime_session_check() -> Callable[[], bool] | None:
    """A thread-safe "is this browser session still connected?" for the calling script's
    session (Streamlit's ``Runtime.is_active_session``); None outside a server."""
    try:
        from streamlit.runtime import Runtime
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
    except ImportError:
        return None
    ctx = get_script_run_ctx()
    if ctx is None or not Runtime.exists():
        return None
    runtime, session_id = Runtime.instance(), ctx.session_id
    return lambda: runtime.is_active_session(session_id)


class RunWorker:
    """Advances one LiveRun in a daemon thread until it finishes, is stopped, or its
    session goes away. States: queued -> running -> stopped | finished | failed."""

    def __init__(
        self,
        live: LiveRun,
        slots: RunSlots,
        *,
        owner: object | None = None,
        connected: Callable[[], bool] | None = None,
        grace_s: float = GRACE_S,
    ) -> None:
        self.live: LiveRun | None = live
        self.lock = threading.RLock()
        self.slots = slots
        self.state = "queued"
        self.reason = ""  # why it ended early: "stopped", "session closed", "error <id>"
        self.error_id: str | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._owner = weakref.ref(owner) if owner is not None else None
        self._connected = connected
        self._grace_s = grace_s
        self._gone_since: float | None = None
        self.started_at: float | None = None
        self.stopped_after_s: float | None = None  # stop() to the worker's last step, measured
        self._stop_called: float | None = None
        self.ended_at: float | None = None
        self._thread = threading.Thread(target=self._main, name="cachesim-run", daemon=True)

    # -- control (any thread) -------------------------------------------------------------

    def start(self) -> RunWorker:
        self._thread.start()
        return self

    def stop(self, wait_s: float = 2.0) -> bool:
        """Ask the run to stop; wait up to ``wait_s`` for the worker to let go of it.
        True if it has (then the run is "stopped", or "finished" if it got there first)."""
        if self._stop_called is None:
            self._stop_called = time.perf_counter()
        self._stop.set()
        live = self.live
        if live is not None:
            live.sim.stop()  # only sets the engine's flag: safe from any thread
        return self._done.wait(wait_s)

    @property
    def alive(self) -> bool:
        return not self._done.is_set()

    def wait(self, timeout_s: float) -> bool:
        """Wait until the worker has ended; True if it has."""
        return self._done.wait(timeout_s)

    def queue_position(self) -> int | None:
        return self.slots.position(self) if self.state == "queued" else None

    # -- the thread -----------------------------------------------------------------------

    def _session_gone(self) -> bool:
        if self._owner is not None and self._owner() is None:
            return True
        if self._connected is None:
            return False
        try:
            connected = self._connected()
        except Exception:  # the runtime is shutting down
            connected = False
        now = time.perf_counter()
        if connected:
            self._gone_since = None
            return False
        if self._gone_since is None:
            self._gone_since = now
            log.warning("live run: its session is not connected; it stops unless back in %g s", self._grace_s)
        return now - self._gone_since >= self._grace_s

    def _cancelled(self) -> bool:
        return self._stop.is_set() or self._session_gone()

    def _main(self) -> None:
        try:
            if not self.slots.acquire(self, self._cancelled):
                self._end_early()
                return
            try:
                self.started_at = time.perf_counter()
                self.state = "running"
                self._loop()
            finally:
                self.slots.release()
        except Exception as exc:  # noqa: BLE001 - logged with an id the page shows
            self.error_id = log_error(exc, "live run")
            self.state, self.reason = "failed", f"error {self.error_id}"
        finally:
            if self._stop_called is not None:
                self.stopped_after_s = time.perf_counter() - self._stop_called
            self.ended_at = time.time()  # wall clock, for the page (and the browser test) to compare
            self._done.set()

    def _loop(self) -> None:
        live = self.live
        assert live is not None
        while True:
            if self._cancelled():
                self._end_early()
                return
            with self.lock:
                n = live.advance(SLICE_S) if live.status == "running" else 0
                status = live.status
            if status != "running" and status != "finished" and self._cancelled():
                self._end_early()  # stop() or the session going away stopped the run mid-advance: say why
                return
            if status != "running":  # finished, or paused (stopped by the run itself or a caller holding the lock)
                if status == "finished":
                    with self.lock:
                        live.sim.retire()  # the session keeps the run's record, not its engine
                self.state = status
                return
            if n == 0 and live.speed:  # real-time mode, caught up: wait for the clock
                self._stop.wait(0.02)
            else:
                self._stop.wait(REST_S)  # let other threads have the interpreter

    def _end_early(self) -> None:
        live = self.live
        if self._session_gone():
            self.state, self.reason = "stopped", "session closed"
            if live is not None:
                live.sim.stop()
                with self.lock:
                    live.stop()
            self.live = None  # the session is gone: nothing here may keep its run alive
            log.warning("live run stopped: its session closed")
            return
        self.state, self.reason = "stopped", "stopped"
        if live is not None:
            with self.lock:
                live.stop()


def log_error(exc: BaseException, where: str) -> str:
    """Log an unexpected error with a short id and return the id (for the page to show).
    The log has the exception's type and the stack, never its message: a message can
    quote file content or user input."""
    import secrets
    import traceback

    error_id = secrets.token_hex(4)
    stack = "".join(
        f'  File "{f.filename}", line {f.lineno}, in {f.name}\n' for f in traceback.extract_tb(exc.__traceback__)
    )  # no source lines, no locals
    log.error("error %s in %s: %s (message withheld)\n%s", error_id, where, type(exc).__name__, stack)
    return error_id
