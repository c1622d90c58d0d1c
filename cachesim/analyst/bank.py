"""A question bank over the built-in scenarios, each question with a checker.

A checker compares an answer's numbers, times and names with the run's own data (its
summary, time series, events, per-node rows, hot keys, moved misses and database
samples), computed here independently of the findings the analyst answers from. The
offline analyst is scored on it by ``tests/analyst/test_analyst_bank.py`` and any
OpenAI-compatible model by ``python -m cachesim eval-analyst`` (:func:`evaluate`).

Runs: each scenario with :data:`RUN_OVERRIDES` (shorter where the scenario's story
fits in less time, so the bank runs in minutes); the same everywhere, seeded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..config import load_scenario
from ..events import EventKind as K
from ..results import RunResult

#: Per scenario, the overrides of the bank's run (empty: the scenario as shipped).
RUN_OVERRIDES: dict[str, dict[str, Any]] = {
    "baseline": {"duration_s": 15.0},
    "node_failure": {},
    "network_partition": {},
    "write_heavy": {"duration_s": 15.0},
    "hot_key": {"duration_s": 10.0, "warmup_s": 2.0},
    "thundering_herd": {"duration_s": 8.0, "warmup_s": 2.0},
    "lease_herd": {"duration_s": 8.0},
}

Check = Callable[[str, RunResult, dict], list[str]]


@dataclass(frozen=True)
class Case:
    scenario: str
    question: str
    check: Check


@dataclass
class Score:
    results: list[tuple[Case, str, list[str]]] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(1 for _, _, problems in self.results if not problems)

    @property
    def ratio(self) -> float:
        return self.passed / len(self.results) if self.results else 0.0

    def lines(self) -> list[str]:
        out = []
        for case, _, problems in self.results:
            mark = "PASS" if not problems else "FAIL"
            out.append(
                f"{mark} [{case.scenario}] {case.question}" + ("" if not problems else "  -- " + "; ".join(problems))
            )
        out.append(f"score: {self.passed}/{len(self.results)} ({self.ratio:.0%})")
        return out


# -- reading answers ------------------------------------------------------------------

_NUM = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?![\d])")


def numbers(text: str) -> list[float]:
    """Every number in the text (thousands separators allowed)."""
    out = []
    for m in _NUM.finditer(text):
        s = m.group(0).replace(",", "")
        try:
            out.append(float(s))
        except ValueError:
            continue
    return out


def has_number(text: str, value: float, rel: float = 0.02, abs_tol: float = 0.0) -> bool:
    tol = max(abs_tol, rel * abs(value))
    return any(abs(x - value) <= tol for x in numbers(text))


def has_share(text: str, share: float, pp: float = 1.5) -> bool:
    """A share as a percentage (25%) or a fraction (0.25), within ``pp`` points."""
    pcts = [float(m.group(1)) for m in re.finditer(r"(\d+(?:\.\d+)?)\s*%", text)]
    return any(abs(p - 100 * share) <= pp for p in pcts) or has_number(text, share, 0, pp / 100)


def has_word(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word.lower())}(?![\w-])", text.lower()) is not None


def has_key(text: str, key: int) -> bool:
    return re.search(rf"\bkeys?\s*#?{key}\b", text.lower()) is not None


# -- checks ---------------------------------------------------------------------------


def num(f: Callable[[RunResult, dict], float], label: str, rel: float = 0.02, abs_tol: float = 0.0) -> Check:
    def check(a: str, r: RunResult, c: dict) -> list[str]:
        v = f(r, c)
        return [] if has_number(a, v, rel, abs_tol) else [f"{label} {v:g} not given"]

    return check


def share(f: Callable[[RunResult, dict], float], label: str, pp: float = 1.5) -> Check:
    def check(a: str, r: RunResult, c: dict) -> list[str]:
        v = f(r, c)
        return [] if has_share(a, v, pp) else [f"{label} {v:.1%} not given"]

    return check


def word(f: Callable[[RunResult, dict], str | Iterable[str]] | str, label: str = "name") -> Check:
    def check(a: str, r: RunResult, c: dict) -> list[str]:
        v = f(r, c) if callable(f) else f
        words = [v] if isinstance(v, str) else list(v)
        return [f"{label} {w!r} not named" for w in words if not has_word(a, w)]

    return check


def keys(f: Callable[[RunResult, dict], Iterable[int]], label: str = "key") -> Check:
    def check(a: str, r: RunResult, c: dict) -> list[str]:
        return [f"{label} {k} not named" for k in f(r, c) if not has_key(a, k)]

    return check


def all_of(*checks: Check) -> Check:
    def check(a: str, r: RunResult, c: dict) -> list[str]:
        return [p for ch in checks for p in ch(a, r, c)]

    return check


# -- the run's own data ---------------------------------------------------------------


def lookups(r: RunResult) -> pd.Series:
    nd = r.nodes().set_index("node")
    return nd["hits"] + nd["misses"]


def busiest(r: RunResult) -> str:
    return str(lookups(r).idxmax())


def top_keys(r: RunResult, n: int = 3, by: str = "requests") -> list[int]:
    return [int(k) for k in r.hot_keys(by=by, top=n)["key"]]


def top_count(r: RunResult, by: str = "requests") -> int:
    return int(r.hot_keys(by=by, top=1)[by].iloc[0])


def event_t(r: RunResult, kind: str, target: str | None = None, after: float = -1.0) -> float:
    ev = r.events()
    ev = ev[(ev["kind"] == kind) & (ev["t"] >= after)]
    if target is not None:
        ev = ev[ev["target"] == target]
    return float(ev["t"].iloc[0])


def window_sum(r: RunResult, col: str, t0: float, t1: float) -> int:
    ts = r.timeseries()
    return int(ts[(ts["t"] > t0 + 1e-9) & (ts["t"] <= t1 + 1e-9)][col].sum())


def kill_window(r: RunResult) -> tuple[str, float, float]:
    ev = r.events()
    kill = ev[ev["kind"] == K.KILL.value].iloc[0]
    target, t0 = str(kill["target"]), float(kill["t"])
    rs = ev[(ev["kind"] == K.RESTART.value) & (ev["target"] == target) & (ev["t"] > t0)]
    return target, t0, float(rs["t"].iloc[0]) if len(rs) else r.sim_time_s


def moved(r: RunResult) -> pd.Series:
    target, t0, t1 = kill_window(r)
    m = r.moved_misses()
    m = m[(m["home"] == target) & (m["t"] > t0) & (m["t"] <= t1 + 1e-9)]
    return m.groupby("node")["misses"].sum().sort_values(ascending=False)


def moved_share(r: RunResult) -> float:
    _, t0, t1 = kill_window(r)
    return float(moved(r).sum()) / window_sum(r, "misses", t0, t1)


def heirs(r: RunResult) -> list[str]:
    m = moved(r)
    return [str(n) for n, v in m.items() if v >= 0.05 * m.sum()]


def heirs_recovery_s(r: RunResult) -> float:
    """Seconds from the kill until the heirs' 5-window mean hit ratio is back within 0.03
    of its mean over the 2 s before the kill (counted from their lowest window)."""
    target, t0, t1 = kill_window(r)
    detected = event_t(r, K.NODE_DOWN_DETECTED, target, t0)
    nt = r.node_timeseries()
    nt = nt[nt["name"].isin(heirs(r))].groupby("t")[["hits", "misses"]].sum()
    hr = nt["hits"] / (nt["hits"] + nt["misses"])
    base = hr[(hr.index > t0 - 2 + 1e-9) & (hr.index <= t0 + 1e-9)].mean()
    after = hr[(hr.index > detected + 1e-9) & (hr.index <= t1 + 1e-9)]
    tail = after[after.index >= after.idxmin()]
    roll = tail.rolling(5).mean()
    return float(roll[roll >= base - 0.03].index[0]) - t0


def db_utilisation(r: RunResult) -> float:
    db = r.config.database
    return r.summary["db_load_rps"] / (db.concurrency * 1000.0 / db.service_time_ms)


def db_queue_mean(r: RunResult) -> float:
    d = r.database_timeseries()
    return float(d[d["t"] > r.config.warmup_s + 1e-9]["queue_len"].mean())


def queue_wait_ms(r: RunResult) -> float:
    return 1000.0 * db_queue_mean(r) / r.summary["db_load_rps"]


def what_if(r: RunResult, c: dict) -> RunResult:
    """The same run with coalescing flipped (simulated once per run)."""
    from ..engine import simulate

    key = ("what_if", id(r))
    if key not in c:
        c[key] = simulate(r.config.with_overrides({"cluster.coalesce_misses": not r.config.cluster.coalesce_misses}))
    return c[key]


def _s(name: str) -> Callable[[RunResult, dict], Any]:
    return lambda r, c: r.summary[name]


def _top3_with_count(by: str = "requests") -> Check:
    return all_of(keys(lambda r, c: top_keys(r, 3, by)), num(lambda r, c: top_count(r, by), f"top key {by}", rel=0.01))


HIT = num(_s("hit_ratio"), "hit ratio", 0, 0.006)
FAILED = num(_s("failed"), "failed requests", 0.01)
HOT = _top3_with_count()
MISS_KEY = all_of(
    keys(lambda r, c: top_keys(r, 1, "misses")), num(lambda r, c: top_count(r, "misses"), "top key misses", 0.01)
)
BUSIEST = all_of(
    word(lambda r, c: busiest(r), "busiest node"), num(lambda r, c: int(lookups(r).max()), "its lookups", 0.01)
)
DB = all_of(
    share(lambda r, c: db_utilisation(r), "utilisation", 1.5),
    num(lambda r, c: db_queue_mean(r), "mean queue length", 0.05, 0.06),
)
STALE_WHY = all_of(
    num(_s("stale_reads"), "stale reads", 0.01),
    word(lambda r, c: r.config.database.write_policy, "write policy"),
    num(_s("invalidations_lost"), "invalidations lost", 0.01),
)
NODE_LOSS = all_of(
    word("node-2", "dead node"),
    num(lambda r, c: 10.0, "kill time", 0, 0.05),
    word(lambda r, c: heirs(r)[:2], "heir"),
    share(lambda r, c: moved_share(r), "share of misses on moved keys"),
)

CASES: list[Case] = [
    # baseline
    Case("baseline", "What was the hit ratio?", HIT),
    Case("baseline", "What was the p99 latency?", num(_s("latency_p99_ms"), "p99", 0.01, 0.06)),
    Case("baseline", "Which keys are hot?", HOT),
    Case("baseline", "Which node was the busiest?", BUSIEST),
    Case("baseline", "How loaded was the database?", DB),
    Case("baseline", "Were there stale reads, and why?", STALE_WHY),
    Case("baseline", "Which key had the most misses?", MISS_KEY),
    Case(
        "baseline",
        "What would coalescing change?",
        num(lambda r, c: what_if(r, c).summary["db_reads"], "db reads with coalescing", 0.005),
    ),
    # node_failure
    Case("node_failure", "Why did the hit ratio drop?", NODE_LOSS),
    Case(
        "node_failure",
        "What happened at t=10?",
        all_of(
            word("node-2"),
            word("killed"),
            num(lambda r, c: event_t(r, K.NODE_DOWN_DETECTED, "node-2", 10.0), "detection", 0, 0.006),
        ),
    ),
    Case("node_failure", "Which nodes inherited node-2's keys?", word(lambda r, c: heirs(r), "heir")),
    Case(
        "node_failure",
        "How long did the hit ratio take to recover after node-2 was killed?",
        num(lambda r, c: heirs_recovery_s(r), "recovery time", 0, 0.06),
    ),
    Case(
        "node_failure",
        "What share of the misses after the kill were on keys node-2 owned?",
        share(lambda r, c: moved_share(r), "moved share"),
    ),
    Case(
        "node_failure",
        "How many requests failed when node-2 died?",
        all_of(num(lambda r, c: window_sum(r, "failed", 10.0, 20.0), "failed in t=10-20 s", 0.01), word("node-2")),
    ),
    Case(
        "node_failure",
        "How many requests did node-2 serve before it was killed?",
        num(
            lambda r, c: int(
                r.node_timeseries()
                .query("name == 'node-2' and t > 8.0 + 1e-9 and t <= 10.0 + 1e-9")[["hits", "misses"]]
                .sum()
                .sum()
            ),
            "node-2 lookups t=8-10 s",
            0.01,
        ),
    ),
    Case(
        "node_failure",
        "What happened when node-2 restarted at t=20?",
        all_of(word("restarted"), num(lambda r, c: 20.0, "restart time", 0, 0.05)),
    ),
    Case("node_failure", "Which keys are hot?", HOT),
    Case(
        "node_failure",
        "Which keys changed owner?",
        keys(lambda r, c: [int(k) for k in r.hot_keys(top=50).query("owner_changed")["key"].head(2)]),
    ),
    Case("node_failure", "How many requests failed?", FAILED),
    # network_partition
    Case(
        "network_partition",
        "Why were there stale reads?",
        all_of(STALE_WHY, num(lambda r, c: 12.0, "partition time", 0, 0.05)),
    ),
    Case("network_partition", "What happened at t=12?", all_of(word("partitioned"), word("database"))),
    Case(
        "network_partition",
        "How many invalidations were lost?",
        num(_s("invalidations_lost"), "invalidations lost", 0.01),
    ),
    Case(
        "network_partition",
        "What happened to node-3 at t=22?",
        all_of(word("node-3"), word("partitioned"), num(lambda r, c: 22.0, "time", 0, 0.05)),
    ),
    Case("network_partition", "How many requests failed?", FAILED),
    Case("network_partition", "What was the hit ratio?", HIT),
    Case("network_partition", "Which keys are hot?", HOT),
    # write_heavy
    Case(
        "lease_herd",
        "How many late fills did the leases refuse?",
        num(_s("lease_refused_fills"), "refused fills", 0.01),
    ),
    Case("lease_herd", "What was the hit ratio?", HIT),
    Case(
        "write_heavy",
        "Why are there stale reads?",
        all_of(STALE_WHY, num(lambda r, c: r.config.cluster.ttl_s, "TTL", 0, 0.01)),
    ),
    Case("write_heavy", "What write policy does this run use?", word("invalidate", "policy")),
    Case("write_heavy", "How many stale reads were there?", num(_s("stale_reads"), "stale reads", 0.01)),
    Case(
        "write_heavy",
        "What share of reads were stale?",
        share(lambda r, c: r.summary["stale_read_ratio"], "stale share", 0.05),
    ),
    Case("write_heavy", "Which keys are hot?", HOT),
    Case("write_heavy", "How loaded was the database?", DB),
    Case("write_heavy", "What was the hit ratio?", HIT),
    # hot_key
    Case("hot_key", "Which keys are hot?", HOT),
    Case("hot_key", "Why is one node busier than the others?", all_of(BUSIEST, keys(lambda r, c: top_keys(r, 1)))),
    Case(
        "hot_key",
        "Which node serves key 0?",
        word(lambda r, c: r.hot_keys(top=50).set_index("key").at[0, "home"], "home node"),
    ),
    Case(
        "hot_key",
        "Did the other nodes idle?",
        all_of(
            num(lambda r, c: int(lookups(r).min()), "quietest node's lookups", 0.01),
            word(lambda r, c: str(lookups(r).idxmin()), "quietest node"),
        ),
    ),
    Case("hot_key", "Which key had the most misses?", MISS_KEY),
    Case("hot_key", "Which node was the busiest?", BUSIEST),
    Case("hot_key", "What was the hit ratio?", HIT),
    # thundering_herd
    Case(
        "thundering_herd",
        "What would coalescing change?",
        all_of(
            num(lambda r, c: what_if(r, c).summary["db_reads"], "db reads with coalescing", 0.005),
            num(lambda r, c: what_if(r, c).summary["hit_ratio"], "hit ratio with coalescing", 0, 0.006),
            num(_s("db_reads"), "db reads now", 0.005),
        ),
    ),
    Case(
        "thundering_herd",
        "Why did the hit ratio collapse?",
        all_of(
            share(lambda r, c: db_utilisation(r), "utilisation", 1.5),
            num(lambda r, c: db_queue_mean(r), "mean queue length", 0.05),
            MISS_KEY,
        ),
    ),
    Case("thundering_herd", "How loaded was the database?", DB),
    Case(
        "thundering_herd",
        "How much of the p99 latency is queueing?",
        num(lambda r, c: queue_wait_ms(r), "queue wait ms", 0.05),
    ),
    Case("thundering_herd", "Which keys are hot?", HOT),
    Case(
        "thundering_herd",
        "How many concurrent misses per key?",
        all_of(
            keys(lambda r, c: top_keys(r, 1, "misses")),
            num(
                lambda r, c: (
                    top_count(r, "misses")
                    / r.sim_time_s
                    * min(
                        2 * r.config.network.latency_ms + r.config.database.service_time_ms + queue_wait_ms(r),
                        r.config.client.timeout_ms,
                    )
                    / 1000.0
                ),
                "concurrent misses of the top key",
                0.05,
                0.06,
            ),
        ),
    ),
    Case("thundering_herd", "How many requests failed?", FAILED),
]


def bank_runs(scenarios: Iterable[str] | None = None) -> dict[str, RunResult]:
    """The bank's runs, by scenario name."""
    from ..engine import simulate

    names = list(scenarios) if scenarios else list(RUN_OVERRIDES)
    return {n: simulate(load_scenario(n).with_overrides(RUN_OVERRIDES[n])) for n in names}


def evaluate(
    answer: Callable[[str, RunResult, str], str],
    runs: Mapping[str, RunResult],
    cases: Iterable[Case] = CASES,
    ctx: dict | None = None,
) -> Score:
    """Ask ``answer(scenario, run, question)`` every case whose scenario is in ``runs``."""
    ctx = {} if ctx is None else ctx
    score = Score()
    for case in cases:
        if case.scenario not in runs:
            continue
        run = runs[case.scenario]
        text = answer(case.scenario, run, case.question)
        try:
            problems = case.check(text, run, ctx)
        except Exception as e:  # a checker that cannot compute its truth fails the case
            problems = [f"checker error: {type(e).__name__}: {e}"]
        score.results.append((case, text, problems))
    return score


def offline_answerer() -> Callable[[str, RunResult, str], str]:
    """The offline analyst as an ``answer`` function (one RunTools per run, so a what-if
    is simulated once per run)."""
    from .offline import OfflineAnalyst
    from .tools import RunTools

    tools: dict[int, RunTools] = {}

    def answer(scenario: str, run: RunResult, question: str) -> str:
        rt = tools.setdefault(id(run), RunTools(run, f"run-1 · {scenario}"))
        return OfflineAnalyst(rt).compose(question)[0]

    return answer
