"""Give a closed session's memory back to the system.

When Streamlit drops a closed session (after its reconnect window), the session's runs
become garbage. CPython frees the objects, but glibc keeps the freed heap pages of a
long-lived, many-threaded process in its arenas, so the server's RSS stays near its
peak after the visitors have gone. Each session's owner object (``state.owner()``) is
watched with ``weakref.finalize``: when a session is freed, a janitor thread (one per
process) collects cycles and asks glibc to return free pages (``malloc_trim(0)``).
The janitor does the work, not the finalizer, which runs wherever the last reference
happened to drop (possibly inside another session's script).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import sys
import threading
import types
import weakref

from streamlit.logger import get_logger

log = get_logger(__name__)  # Streamlit's handler and level (info): the server log shows each release

#: Wall seconds the janitor waits after a session is freed, so a burst of closing
#: sessions is one collection.
SETTLE_S = 1.0


def _malloc_trim() -> bool:
    """``malloc_trim(0)`` where the C library has it (glibc); False elsewhere."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
        return True
    except (OSError, AttributeError):
        return False


#: glibc's mallopt parameter for the number of malloc arenas
_M_ARENA_MAX = -8


def tune_allocators(arenas: int = 2) -> None:
    """Fewer malloc arenas (glibc makes up to 8 per core, one per thread that contends:
    each run's worker thread fragments its own, which trim cannot shrink while one live
    object pins a page), and Arrow on the system allocator, so that ``malloc_trim``
    reaches what Arrow frees too. Idempotent; called once at import. (A fixed mmap
    threshold was tried too: 10 sessions x 1 run still ended at 1.49x idle, as without
    it, so it is not set.)"""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        pass
    try:
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())
    except ImportError:
        pass


def rss_mb() -> float | None:
    """The process's resident memory in MB (Linux; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return None


def _arrow_release() -> bool:
    """Ask Arrow's memory pool (jemalloc or mimalloc: the tables the pages send) to
    return its unused pages; False when Arrow is not loaded."""
    pa = sys.modules.get("pyarrow")
    if pa is None:
        return False
    pa.default_memory_pool().release_unused()
    return True


def release() -> None:
    """Collect garbage, then return free heap pages to the system (glibc's and Arrow's)."""
    gc.collect()
    _arrow_release()
    _malloc_trim()


class Janitor:
    """Releases memory after watched objects (sessions' owners) are freed."""

    def __init__(self, settle_s: float = SETTLE_S) -> None:
        self.releases = 0  # how many times it has released (tests wait on it)
        self._settle_s = settle_s
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, obj: object) -> None:
        """Release memory once ``obj`` has been freed."""
        weakref.finalize(obj, self._wake.set)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._main, name="cachesim-janitor", daemon=True)
                self._thread.start()

    def _main(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            self._wake.wait(self._settle_s)  # more sessions closing: one release for all
            self._wake.clear()
            before = rss_mb()
            release()
            self.releases += 1
            log.info("sessions freed: memory released, RSS %s -> %s MB", _mb(before), _mb(rss_mb()))
            if os.environ.get("CACHESIM_MEMORY_CENSUS"):
                log.info("memory census: %s", census())
                sys._debugmallocstats()  # pymalloc's arenas and pools, to stderr (the server log)


def census(top: int = 12) -> str:
    """What the process holds, for finding what a closed session left behind (the
    janitor logs it after each release when ``CACHESIM_MEMORY_CENSUS`` is set): Python's
    allocated blocks, the sessions Streamlit still lists, the media files it keeps, and
    the most numerous object types, how many runs, frames and sessions are alive, and
    who holds the first run or frame found."""
    from collections import Counter

    parts = [f"rss {_mb(rss_mb())} MB", f"blocks {sys.getallocatedblocks()}"]
    try:
        from streamlit.runtime import Runtime

        if Runtime.exists():
            rt = Runtime.instance()
            parts.append(f"sessions {len(rt._session_mgr.list_sessions())}")
            files = getattr(rt.media_file_mgr._storage, "_files_by_id", {})
            parts.append(f"media {len(files)} files {sum(len(f.content) for f in files.values()) / 1e6:.1f} MB")
    except Exception as exc:  # noqa: BLE001 - a diagnostic: never fail the janitor
        parts.append(f"runtime ? ({type(exc).__name__})")
    objs = gc.get_objects()
    counts = Counter(type(o).__qualname__ for o in objs)
    parts.append(f"gc objects {len(objs)}: " + ", ".join(f"{k} {v}" for k, v in counts.most_common(top)))
    names = ("RunResult", "LiveRun", "Simulation", "RunWorker", "DataFrame", "SessionState", "AppSession", "_Owner")
    parts.append("kept: " + ", ".join(f"{n} {counts.get(n, 0)}" for n in names))
    for n in ("RunResult", "LiveRun", "Simulation", "DataFrame"):
        found = next((o for o in objs if type(o).__qualname__ == n), None)
        if found is not None:
            parts.append(f"held {n}: {_holders(found, objs)}")
            break
    return "; ".join(parts)


def _holders(obj: object, objs: list, depth: int = 8) -> str:
    """A chain of referrers from ``obj`` towards a root, by type (and dict keys)."""
    chain, seen = [], {id(objs), id(sys._getframe())}
    for _ in range(depth):
        refs = [r for r in gc.get_referrers(obj) if id(r) not in seen and not isinstance(r, types.FrameType)]
        seen.add(id(refs))
        refs.sort(key=lambda r: isinstance(r, types.CellType | tuple))  # closures last
        if not refs:
            chain.append("(no referrer)")
            break
        seen.add(id(obj))
        descr = []
        for r in refs[:4]:
            d = type(r).__qualname__
            if isinstance(r, dict):
                keys = [k for k, v in r.items() if v is obj][:2]
                d += f"[{keys!r:.60}]" if keys else f"({len(r)} keys: {list(r)[:4]!r:.80})"
            descr.append(d)
        chain.append(" | ".join(descr))
        seen.update(id(r) for r in refs)
        obj = refs[0]
        if isinstance(obj, types.ModuleType):
            chain.append(f"module {obj.__name__}")
            break
    return " <- ".join(chain)


def _mb(v: float | None) -> str:
    return "?" if v is None else f"{v:.0f}"


#: The process's janitor.
JANITOR = Janitor()
tune_allocators()
