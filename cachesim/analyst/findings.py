"""Findings: short, checkable statements about a run, computed from its data.

The offline analyst answers from them, and the LLM gets them as grounding. Each
:class:`Finding` has a topic, one sentence of text with the numbers (and a cited time
range like ``[t=10.0-11.8 s]`` where one applies) and the facts behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..events import EventKind as K
from ..events import Group, kinds
from ..results import RunResult
from .incidents import Incident, incidents

TOPICS = (
    "overview",
    "warmup",
    "incident",
    "anomaly",
    "failures",
    "latency",
    "nodes",
    "stale",
    "database",
    "node_loss",
    "db_load",
    "stale_cause",
    "hot_keys",
    "herd",
)


@dataclass(frozen=True)
class Finding:
    topic: str
    text: str
    t_start: float | None = None
    t_end: float | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"topic": self.topic, "text": self.text}
        if self.t_start is not None:
            d["t_start"], d["t_end"] = round(self.t_start, 2), round(self.t_end or self.t_start, 2)
        return d


def _r(x: Any, nd: int = 3) -> Any:
    return round(x, nd) if isinstance(x, float) else x


def _pct(a: float, b: float) -> str:
    return f"{100 * a / b:.2f}%" if b else "n/a"


def overview(run: RunResult) -> Finding:
    s, cfg = run.summary, run.config
    hr = s.get("hit_ratio")
    p50, p99 = s.get("latency_p50_ms"), s.get("latency_p99_ms")
    bits = [
        f"Over the measured {s['measured_s']:.1f} s (after {cfg.warmup_s:g} s of warm-up), "
        f"{s['issued']} requests were issued at {s['throughput_rps'] or 0:.0f} completed/s"
    ]
    if hr is not None:
        bits.append(f"hit ratio {hr:.3f}")
    if p50 is not None and p99 is not None:
        bits.append(f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    bits.append(f"{s['failed']} failed ({_pct(s['failed'], s['issued'])})")
    facts = {
        k: _r(s.get(k))
        for k in ("issued", "completed", "failed", "hit_ratio", "latency_p50_ms", "latency_p99_ms", "throughput_rps")
    }
    return Finding("overview", ", ".join(bits) + ".", facts=facts)


def warmup(run: RunResult) -> Finding | None:
    """How long the cold caches took to reach 90% of the steady hit ratio."""
    ts = run.timeseries()
    hr = ts["hit_ratio"]
    if hr.notna().sum() < 10:
        return None
    measured = hr[ts["t"] > run.config.warmup_s] if run.config.warmup_s else hr
    steady = float(measured.median())
    smooth = hr.rolling(5, min_periods=5).mean()
    reached = ts["t"][smooth >= 0.9 * steady]
    first = float(hr.dropna().iloc[0])
    if not len(reached) or first >= 0.9 * steady:
        return None
    t = float(reached.iloc[0])
    text = (
        f"[t=0.0-{t:.1f} s] Cold start: the hit ratio climbed from {first:.2f} in the first "
        f"window to 90% of its steady level ({steady:.2f}) by t={t:.1f} s."
    )
    return Finding("warmup", text, 0.0, t, {"first": _r(first), "steady": _r(steady), "t": t})


def _inside(t: float, incs: list[Incident]) -> bool:
    return any(i.t <= t <= max(i.end, i.window_end) for i in incs)


def unexplained_anomalies(run: RunResult, incs: list[Incident]) -> Finding | None:
    """Observer anomalies that no chaos fault explains (load, stampedes, contention)."""
    ev = run.events()
    an = ev[(ev["kind"] == K.ANOMALY.value) & (ev["source"] == K.ANOMALY.source)]
    lone = an[[not _inside(float(t), incs) for t in an["t"]]]
    if not len(lone):
        return None
    t0, t1 = float(lone["t"].min()), float(lone["t"].max())
    ts = run.timeseries()
    span = ts[(ts["t"] >= t0) & (ts["t"] <= t1 + 0.5)]
    low = span["hit_ratio"].min()
    text = (
        f"[t={t0:.1f}-{t1:.1f} s] The observer flagged {len(lone)} hit-ratio drop(s) that no "
        f"chaos action explains (lowest window {low:.2f}); look at load: database "
        f"saturation, hot keys or misses piling up."
    )
    return Finding("anomaly", text, t0, t1, {"count": int(len(lone)), "low": _r(float(low))})


def failures(run: RunResult, incs: list[Incident]) -> Finding | None:
    s = run.summary
    if not s["failed"] and not s.get("timeouts"):
        return None
    during = sum(i.failed for i in incs)
    ts = run.timeseries()
    peak = ts.loc[ts["failed"].idxmax()] if len(ts) else None
    text = (
        f"{s['failed']} measured requests failed ({_pct(s['failed'], s['issued'])}); "
        f"{s.get('timeouts', 0)} attempts timed out and {s.get('retries', 0)} were retried "
        f"(client timeout {run.config.client.timeout_ms:g} ms, "
        f"retries={run.config.client.retries})."
    )
    if incs:
        text += f" {during} failures fell inside chaos incidents."
    if peak is not None and peak["failed"] > 0:
        text += f" The worst window was t={peak['t']:.1f} s with {int(peak['failed'])} failures."
    return Finding("failures", text, facts={"failed": s["failed"], "during_incidents": during})


def latency(run: RunResult) -> Finding | None:
    s = run.summary
    if s.get("latency_p50_ms") is None:
        return None
    timeout = run.config.client.timeout_ms
    text = (
        f"Latency: mean {s['latency_mean_ms']:.1f} ms, p50 {s['latency_p50_ms']:.1f} ms, "
        f"p95 {s['latency_p95_ms']:.1f} ms, p99 {s['latency_p99_ms']:.1f} ms, max "
        f"{s['latency_max_ms']:.1f} ms (client timeout {timeout:g} ms)."
    )
    if s["latency_p99_ms"] >= 0.9 * timeout:
        text += " The p99 sits at the timeout: the slowest requests are retries after a timeout."
    ts = run.timeseries()
    if ts["latency_p99_ms"].notna().any():
        i = ts["latency_p99_ms"].idxmax()
        text += f" The worst window p99 was {ts.at[i, 'latency_p99_ms']:.0f} ms at t={ts.at[i, 't']:.1f} s."
    return Finding(
        "latency",
        text,
        facts={k: _r(s[k]) for k in ("latency_mean_ms", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms")},
    )


def nodes(run: RunResult) -> Finding | None:
    nd = run.nodes()
    if len(nd) < 2 or nd["requests"].sum() == 0:
        return None
    mean = nd["requests"].mean()
    busiest = nd.loc[nd["requests"].idxmax()]
    quietest = nd.loc[nd["requests"].idxmin()]
    text = (
        f"Per node: {busiest['node']} served the most requests ({int(busiest['requests'])}, "
        f"{busiest['requests'] / mean:.2f}x the mean of {mean:.0f}) and {quietest['node']} the "
        f"fewest ({int(quietest['requests'])})."
    )
    hr = nd.dropna(subset=["hit_ratio"])
    if len(hr):
        worst = hr.loc[hr["hit_ratio"].idxmin()]
        text += f" Lowest hit ratio: {worst['node']} at {worst['hit_ratio']:.2f}."
    dropped = nd[nd["dropped"] > 0]
    if len(dropped):
        text += " Requests dropped: " + ", ".join(f"{r.node} {int(r.dropped)}" for r in dropped.itertuples()) + "."
    return Finding(
        "nodes", text, facts={"busiest": busiest["node"], "imbalance": _r(float(busiest["requests"] / mean))}
    )


def stale(run: RunResult) -> Finding | None:
    s = run.summary
    if not s["stale_reads"]:
        return None
    ts = run.timeseries()
    i = ts["stale_reads"].idxmax()
    sent = s.get("invalidations_sent", 0) + s.get("updates_sent", 0)
    lost = s.get("invalidations_lost", 0) + s.get("updates_lost", 0)
    what = "updates" if run.config.database.write_policy == "write_through" else "invalidations"
    text = (
        f"{s['stale_reads']} stale reads ({s.get('stale_read_ratio') or 0:.2%} of the reads the nodes "
        f"served) under write policy '{run.config.database.write_policy}'; {lost} of {sent} {what} "
        f"were lost. The most in one window: "
        f"{int(ts.at[i, 'stale_reads'])} at t={ts.at[i, 't']:.1f} s."
    )
    return Finding("stale", text, facts={"stale_reads": s["stale_reads"]})


def consistency(run: RunResult) -> Finding | None:
    """Stale sets, the mechanisms of issue 13 (leases, the gutter pool) and how soon
    writes converged: one finding, topic "stale"."""
    s, lz = run.summary, run.config.cluster.leases
    if "stale_sets" not in s:  # a run saved before these were measured
        return None
    bits = []
    if lz.enabled:
        bits.append(
            f"Leases refused {s['lease_refused_fills']:,} late fills and told misses to wait {s['lease_waits']:,} times"
        )
    if run.config.cluster.gutter_nodes:
        bits.append(
            f"The gutter pool ({run.config.cluster.gutter_nodes} node(s), TTL "
            f"{run.config.cluster.gutter_ttl_s:g} s) took {s['gutter_requests']:,} reads"
        )
    bits.append(
        f"{s['stale_sets']:,} stale sets (fills that stored a version the database had already "
        f"superseded), stale for {s['stale_entry_time_s']:.3f} s in all"
    )
    if s.get("writes_tracked"):
        c1, c100, c10s = s.get("converged_1ms") or 0, s.get("converged_100ms") or 0, s.get("converged_10s") or 0
        bits.append(
            f"of {s['writes_tracked']:,} writes, {c1:.1%} converged within 1 ms, {c100:.1%} within "
            f"100 ms ({s.get('convergence_nines_100ms')} nines) and {c10s:.1%} within 10 s; "
            f"{s['writes_unconverged']:,} had not converged by the end"
        )
    facts = {
        k: _r(s.get(k))
        for k in (
            "stale_sets",
            "stale_entry_time_s",
            "lease_waits",
            "lease_refused_fills",
            "gutter_requests",
            "writes_tracked",
            "writes_unconverged",
            "converged_1ms",
            "converged_100ms",
            "converged_10s",
        )
    }
    return Finding("stale", "; ".join(bits) + ".", facts=facts)


def database(run: RunResult) -> Finding | None:
    s, db = run.summary, run.config.database
    if s.get("db_load_rps") is None:
        return None
    capacity = db.concurrency * 1000.0 / db.service_time_ms
    load = s["db_load_rps"]
    text = (
        f"The database handled {load:.0f} operations/s ({s['db_reads']} reads, "
        f"{s['db_writes']} writes) against a capacity of about {capacity:.0f}/s "
        f"({db.concurrency} slots x {db.service_time_ms:g} ms): "
        f"{load / capacity:.0%} utilised."
    )
    if load >= 0.9 * capacity:
        text += " It is saturated: misses queue there, time out and retry."
    return Finding("database", text, facts={"load_rps": _r(load), "capacity_rps": _r(capacity)})


def compute_findings(run: RunResult) -> list[Finding]:
    """All findings for a run, the most important first: computed once per run and
    kept with it (:meth:`RunResult.cached`), however many pages and answers ask."""
    return list(run.cached("analyst.findings", lambda: _compute_findings(run)))


def _compute_findings(run: RunResult) -> list[Finding]:
    incs = incidents(run)
    out: list[Finding | None] = [overview(run)]
    out += [Finding("incident", i.describe(), i.t, i.end, {"kind": i.kind, "target": i.target, "t": i.t}) for i in incs]
    out += [
        unexplained_anomalies(run, incs),
        warmup(run),
        failures(run, incs),
        latency(run),
        nodes(run),
        stale(run),
        consistency(run),
        database(run),
    ]
    from .mechanisms import mechanism_findings  # it builds on Finding: imported here

    out += mechanism_findings(run, incs)
    return [f for f in out if f is not None]


def timeline(run: RunResult, limit: int = 30) -> pd.DataFrame:
    """The chaos, detection and anomaly events, without the start/finish markers."""
    ev = run.events()
    return ev[~ev["kind"].isin([k.value for k in kinds(Group.RUN)])].head(limit)
