"""Findings that reach causes: the mechanism behind what the metrics show.

Each function reads one :class:`~cachesim.results.RunResult` and returns a
:class:`~cachesim.analyst.findings.Finding` whose text names the mechanism and gives its
evidence -- numbers, nodes, keys and *labelled windows* ("t=10.0-20.0 s: node-3 served
1,234 misses on node-2's keys"), so a figure for a window never reads like a whole-run
figure -- and whose ``facts`` hold the same numbers for checking.

- :func:`node_loss`: after a kill, the share of the misses on keys the dead node owned
  (``RunResult.moved_misses``), the nodes that inherited them, and how long their hit
  ratio took to recover.
- :func:`database_load`: utilisation, queue length (sampled at every snapshot) and the
  mean queueing delay by Little's law, as a share of p99.
- :func:`stale_cause`: the write policy, the invalidations (or updates) lost and the hop
  delay behind stale reads.
- :func:`herd`: misses concentrated on a few keys while their database read is under
  way, with an estimate of concurrent misses per key; :func:`coalescing_what_if` runs
  the same config and seed with ``cluster.coalesce_misses`` flipped.
- :func:`hot_keys`: the key and node behind a load imbalance.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .. import derived
from ..events import EventKind as K
from ..results import RunResult
from .findings import Finding
from .incidents import Incident

#: Seconds before a fault that define "normal" for it.
BEFORE_S = 2.0
#: Windows averaged to decide that a hit ratio has recovered, and its tolerance.
RECOVERY_WINDOWS = 5
RECOVERY_TOL = 0.03
#: Largest run (requests issued) for which the coalescing what-if is simulated.
WHAT_IF_MAX_REQUESTS = 400_000


def window(t0: float, t1: float) -> str:
    """A labelled window, as every window figure is introduced."""
    return f"t={t0:.1f}-{t1:.1f} s"


def _span(df: pd.DataFrame, t0: float, t1: float) -> pd.DataFrame:
    return df[(df["t"] > t0 + 1e-9) & (df["t"] <= t1 + 1e-9)]


def _r(x: float, nd: int = 4) -> float:
    return round(float(x), nd)


def _lookups(nt: pd.DataFrame) -> pd.Series:
    return nt["hits"] + nt["misses"]


def recovery_time(
    nt: pd.DataFrame, names: list[str], t_fault: float, t_from: float, t_end: float
) -> tuple[float | None, float | None, float | None]:
    """(hit ratio before, lowest after, when it recovered) of ``names`` together: the
    first window after ``t_from`` whose rolling mean of ``RECOVERY_WINDOWS`` windows is back
    within ``RECOVERY_TOL`` of the mean over ``BEFORE_S`` before ``t_fault``."""
    sub = nt[nt["name"].isin(names)]
    g = sub.groupby("t", sort=True)[["hits", "misses"]].sum()
    hr = pd.Series(derived.ratios(g["hits"], g["hits"] + g["misses"]), index=g.index)
    before = hr[(hr.index > t_fault - BEFORE_S + 1e-9) & (hr.index <= t_fault + 1e-9)].dropna()
    after = hr[(hr.index > t_from + 1e-9) & (hr.index <= t_end + 1e-9)].dropna()
    if not len(before) or not len(after):
        return None, None, None
    base = float(before.mean())
    low = float(after.min())
    tail = after[after.index >= after.idxmin()]
    rolling = tail.rolling(RECOVERY_WINDOWS, min_periods=RECOVERY_WINDOWS).mean()
    back = rolling[rolling >= base - RECOVERY_TOL]
    return base, low, (float(back.index[0]) if len(back) else None)


def node_loss(run: RunResult, inc: Incident) -> Finding | None:
    """What a kill did, by mechanism: moved keys, heirs, recovery."""
    if inc.kind != K.KILL:
        return None
    target, t0 = inc.target, inc.t
    ts, nt = run.timeseries(), run.node_timeseries()
    end_of_run = float(ts["t"].iloc[-1]) if len(ts) else t0
    t1 = inc.healed_at if inc.healed_at is not None else end_of_run
    detected = inc.detected_at
    out = _span(ts, t0, t1)
    misses = int(out["misses"].sum())
    failed = int(out["failed"].sum())
    pre = _span(nt[nt["name"] == target], t0 - BEFORE_S, t0)
    pre_all = _span(nt, t0 - BEFORE_S, t0)
    served = int(_lookups(pre).sum())
    share_before = served / max(1, int(_lookups(pre_all).sum()))
    facts: dict[str, Any] = {
        "target": target,
        "t_kill": t0,
        "t_end": t1,
        "detected_at": detected,
        "misses": misses,
        "failed": failed,
        "served_before": served,
        "share_before": _r(share_before),
    }
    parts = [
        f"[t={t0:.1f}-{t1:.1f} s] Node loss: chaos killed {target} at t={t0:.1f} s. "
        f"{window(t0 - BEFORE_S, t0)}: {target} served {served:,} lookups "
        f"({share_before:.0%} of all)"
    ]
    if detected is not None:
        fail_d = int(_span(ts, t0, detected + 0.1)["failed"].sum())
        parts.append(
            f"until the balancer noticed at t={detected:.2f} s ({detected - t0:.2f} s later) "
            f"its requests were lost; {window(t0, detected)}: {fail_d:,} requests failed"
        )
        facts["failed_until_detected"] = fail_d
    moved = run.moved_misses()
    moved = moved[(moved["home"] == target) & (moved["t"] > t0) & (moved["t"] <= t1 + 1e-9)]
    if run.config.cluster.routing != "consistent_hash":
        parts.append(
            f"routing is {run.config.cluster.routing}, so keys have no home node: the "
            f"survivors share {target}'s traffic and its cached items are simply gone"
        )
        heirs: list[str] = []
    elif len(moved):
        by = moved.groupby("node")["misses"].sum().sort_values(ascending=False, kind="stable")
        total = int(by.sum())
        share = total / misses if misses else 0.0
        heirs = [n for n, m in by.items() if m >= 0.05 * total]
        facts |= {"moved_misses": total, "moved_share": _r(share), "heirs": {str(n): int(m) for n, m in by.items()}}
        parts.append(
            f"then consistent hashing moved {target}'s keys to "
            + ", ".join(f"{n} ({int(by[n]):,} misses on them)" for n in heirs)
            + f", which did not have them cached; {window(t0, t1)}: {total:,} of the "
            f"{misses:,} misses ({share:.0%}) were on keys {target} used to own"
        )
    else:
        heirs = []
        parts.append(
            f"{window(t0, t1)}: no misses on keys {target} used to own were seen (the balancer never routed around it)"
        )
    if heirs:
        base, low, back = recovery_time(nt, heirs, t0, detected or t0, t1)
        if base is not None:
            facts |= {"heirs_hr_before": _r(base), "heirs_hr_low": _r(low or 0.0)}
            txt = f"the heirs' hit ratio fell from {base:.2f} to {low:.2f}"
            if back is not None:
                facts["recovered_at"] = back
                facts["recovery_s"] = _r(back - t0, 2)
                txt += (
                    f" and was back within {RECOVERY_TOL:.2f} of it by t={back:.1f} s, {back - t0:.1f} s after the kill"
                )
            else:
                txt += f" and had not recovered by t={t1:.1f} s"
            parts.append(txt)
    parts.append(f"{window(t0, t1)}: {failed:,} requests failed in all")
    return Finding("node_loss", "; ".join(parts) + ".", t0, t1, facts)


def database_load(run: RunResult) -> Finding | None:
    """Utilisation, queue length and the queueing share of p99 over the measured run."""
    s, cfg = run.summary, run.config
    db = cfg.database
    if s.get("db_load_rps") is None:
        return None
    t0, t1 = cfg.warmup_s, run.sim_time_s
    capacity = db.concurrency * 1000.0 / db.service_time_ms
    load = float(s["db_load_rps"])
    util = load / capacity
    dts = _span(run.database_timeseries(), t0, t1)
    facts: dict[str, Any] = {"load_rps": _r(load, 1), "capacity_rps": _r(capacity, 1), "utilisation": _r(util)}
    text = (
        f"[t={t0:.1f}-{t1:.1f} s] Database, over the measured {window(t0, t1)}: "
        f"{load:,.0f} operations/s ({s['db_reads']:,} reads, {s['db_writes']:,} writes) "
        f"against a capacity of about {capacity:,.0f}/s ({db.concurrency} slots x "
        f"{db.service_time_ms:g} ms): {util:.0%} utilised"
    )
    if len(dts):
        q_mean, q_max = float(dts["queue_len"].mean()), int(dts["queue_len"].max())
        t_max = float(dts.loc[dts["queue_len"].idxmax(), "t"])
        wq_ms = 1000.0 * q_mean / load if load else 0.0
        facts |= {"queue_mean": _r(q_mean, 1), "queue_max": q_max, "queue_max_t": t_max, "queue_wait_ms": _r(wq_ms, 2)}
        text += (
            f"; its queue held {q_mean:,.1f} requests on average (sampled at each snapshot) "
            f"and {q_max:,} at most (t={t_max:.1f} s)"
        )
        p99 = s.get("latency_p99_ms")
        if p99:
            share = min(1.0, wq_ms / p99)
            facts["queue_share_of_p99"] = _r(share)
            text += (
                f"; by Little's law a database read waited about {wq_ms:,.1f} ms in that "
                f"queue (mean queue / arrival rate), {share:.0%} of the p99 latency of "
                f"{p99:.1f} ms"
            )
            if wq_ms >= cfg.client.timeout_ms:
                text += (
                    f", longer than the client timeout of {cfg.client.timeout_ms:g} ms: "
                    f"a miss times out before its read is served, is retried, and the "
                    f"retry queues again"
                )
    if util >= 0.9:
        text += ". It is saturated: misses queue there, time out and retry"
        facts["saturated"] = True
    else:
        facts["saturated"] = False
    return Finding("db_load", text + ".", t0, t1, facts)


def stale_cause(run: RunResult) -> Finding | None:
    """The write policy and the lost or late invalidations behind stale reads."""
    s, cfg = run.summary, run.config
    if not s.get("stale_reads"):
        return None
    policy, net, ttl = cfg.database.write_policy, cfg.network, cfg.cluster.ttl_s
    t0, t1 = cfg.warmup_s, run.sim_time_s
    what = "updates" if policy == "write_through" else "invalidations"
    sent = s.get(f"{what}_sent", 0)
    lost = s.get(f"{what}_lost", 0)
    facts: dict[str, Any] = {
        "stale_reads": s["stale_reads"],
        "write_policy": policy,
        "sent": sent,
        "lost": lost,
        "loss_rate": net.loss_rate,
        "ttl_s": ttl,
        "hop_ms": net.latency_ms,
    }
    parts = [
        f"[t={t0:.1f}-{t1:.1f} s] Stale reads: {s['stale_reads']:,} over the measured "
        f"{window(t0, t1)} ({s.get('stale_read_ratio') or 0:.2%} of the reads the nodes served), "
        f"under write policy '{policy}'"
    ]
    if policy == "none":
        parts.append(
            "writes do not touch the caches at all: a cached value stays stale until "
            + (f"its {ttl:g} s TTL expires" if ttl else "it is evicted (no TTL is set)")
        )
    else:
        verb = "carries the new version to" if policy == "write_through" else "invalidates"
        parts.append(
            f"a write {verb} the key's holders with a message that crosses one network "
            f"hop (mean {net.latency_ms:g} ms, jitter {net.jitter_ms:g} ms): a read served "
            f"before it arrives is stale, and so is a fill of a value read just before the write"
        )
        share = lost / sent if sent else 0.0
        facts["lost_share"] = _r(share)
        parts.append(
            f"{lost:,} of {sent:,} {what} ({share:.1%}) were lost "
            + (f"(network loss rate {net.loss_rate:.0%}" if net.loss_rate else "(no random loss")
            + (
                ", and partitions cut the database off"
                if any(e.action == K.PARTITION for e in cfg.chaos.events)
                else ""
            )
            + ")"
            + (
                "; a lost one leaves the value stale until "
                + (f"its {ttl:g} s TTL expires" if ttl else "it is evicted (no TTL bounds it)")
                if lost
                else ""
            )
        )
    ts = _span(run.timeseries(), t0, t1)
    for e in cfg.chaos.events:
        if e.action == K.PARTITION and e.duration_s:
            healed = e.at_s + e.duration_s
            after = int(_span(ts, healed, healed + 5.0)["stale_reads"].sum())
            parts.append(
                f"chaos partitioned {e.target} at t={e.at_s:.1f} s for {e.duration_s:g} s "
                f"(invalidations to or from it were lost); {window(healed, healed + 5.0)}, "
                f"after it healed: {after:,} stale reads"
            )
    if len(ts) and ts["stale_reads"].max() > 0:
        i = ts["stale_reads"].idxmax()
        tp, iv = float(ts.at[i, "t"]), float(ts.at[i, "interval_s"])
        parts.append(f"the worst window, {window(tp - iv, tp)}, had {int(ts.at[i, 'stale_reads']):,}")
        facts["peak_t"] = tp
    return Finding("stale_cause", "; ".join(parts) + ".", t0, t1, facts)


def _read_time_ms(run: RunResult, db: Finding | None) -> float:
    """Mean time a miss's database read takes: two hops, the queue, the service."""
    cfg = run.config
    wq = (db.facts.get("queue_wait_ms") or 0.0) if db else 0.0
    return 2 * cfg.network.latency_ms + cfg.database.service_time_ms + wq


def herd(run: RunResult, db: Finding | None = None) -> Finding | None:
    """Misses piling up on a few keys while their database read is under way."""
    cfg = run.config
    hk = run.hot_keys(by="misses", top=5)
    s = run.summary
    if not len(hk) or not s.get("misses"):
        return None
    db = db if db is not None else database_load(run)
    all_misses = int(run.nodes()["misses"].sum())
    top5 = int(hk["misses"].sum())
    duration = max(run.sim_time_s, 1e-9)
    read_ms = min(_read_time_ms(run, db), cfg.client.timeout_ms)
    k0 = hk.iloc[0]
    conc = float(k0["misses"]) / duration * read_ms / 1000.0
    facts: dict[str, Any] = {
        "top_key": int(k0["key"]),
        "top_key_misses": int(k0["misses"]),
        "top5_misses": top5,
        "all_misses": all_misses,
        "top5_share": _r(top5 / all_misses if all_misses else 0.0),
        "read_ms": _r(read_ms, 2),
        "concurrent_misses_top_key": _r(conc, 2),
        "coalescing": cfg.cluster.coalesce_misses,
    }
    text = (
        f"[t=0.0-{duration:.1f} s] Misses by key, over the whole run ({window(0, duration)}): key "
        f"{int(k0['key'])} missed {int(k0['misses']):,} times ({int(k0['requests']):,} lookups, on "
        f"{k0['owners'] or 'no node'}); the 5 keys that missed most account for {top5:,} of "
        f"{all_misses:,} misses ({facts['top5_share']:.0%}). A database read of a missing key "
        f"takes about {read_ms:.1f} ms (two {cfg.network.latency_ms:g} ms hops, "
        f"{cfg.database.service_time_ms:g} ms of service and the queue), so about {conc:.1f} "
        f"misses of key {int(k0['key'])} were under way at once on average (its miss rate x "
        f"that time, Little's law)"
    )
    if cfg.cluster.coalesce_misses:
        text += "; coalescing is on: concurrent misses of a key wait for one database read."
    else:
        text += (
            "; coalescing is off, so each of them is its own database read "
            "(set cluster.coalesce_misses = true to make them share one)."
        )
    return Finding("herd", text, 0.0, duration, facts)


def coalescing_what_if(run: RunResult) -> dict[str, Any]:
    """Run the same config and seed with ``cluster.coalesce_misses`` flipped and compare
    (refused above :data:`WHAT_IF_MAX_REQUESTS` requests)."""
    from ..engine import simulate

    cfg = run.config
    issued = int(run.timeseries()["issued"].sum())
    if issued > WHAT_IF_MAX_REQUESTS:
        return {"error": f"the run issued {issued:,} requests; the what-if runs only up to {WHAT_IF_MAX_REQUESTS:,}"}
    if cfg.workload.trace and cfg.workload.trace.startswith("upload:"):
        return {"error": "the run replays an uploaded trace, which the what-if cannot read back"}
    flipped = not cfg.cluster.coalesce_misses
    try:
        other = simulate(cfg.with_overrides({"cluster.coalesce_misses": flipped}))
    except Exception as e:  # noqa: BLE001 - a what-if that cannot run is an answer, not a crash
        return {"error": f"the what-if run failed ({type(e).__name__})"}
    keys = ("hit_ratio", "db_reads", "failed", "failure_ratio", "latency_p99_ms", "timeouts")
    a, b = run.summary, other.summary
    return {
        "coalesce_misses": {"this_run": cfg.cluster.coalesce_misses, "what_if": flipped},
        "window": f"measured t={cfg.warmup_s:g}-{cfg.duration_s:g} s, same seed",
        "this_run": {k: a.get(k) for k in keys},
        "what_if": {k: b.get(k) for k in keys},
    }


def describe_what_if(w: dict[str, Any]) -> str:
    if "error" in w:
        return f"The coalescing what-if was not run: {w['error']}."
    a, b = w["this_run"], w["what_if"]
    on = w["coalesce_misses"]["what_if"]
    verb = "With coalescing on" if on else "With coalescing off"

    def f(x: Any, fmt: str) -> str:
        return "n/a" if x is None else format(x, fmt)

    saved = (a["db_reads"] or 0) - (b["db_reads"] or 0)
    return (
        f"{verb}, the same config and seed ({w['window']}) gives: database reads "
        f"{f(b['db_reads'], ',')} instead of {f(a['db_reads'], ',')} ({saved:+,} fewer), hit ratio "
        f"{f(b['hit_ratio'], '.3f')} instead of {f(a['hit_ratio'], '.3f')}, {f(b['failed'], ',')} "
        f"failed requests instead of {f(a['failed'], ',')}, p99 {f(b['latency_p99_ms'], '.1f')} ms "
        f"instead of {f(a['latency_p99_ms'], '.1f')} ms."
    )


def hot_keys(run: RunResult) -> Finding | None:
    """The keys behind the load, and the node (and key) behind an imbalance."""
    hk = run.hot_keys(top=5)
    nd = run.nodes()
    if not len(hk) or len(nd) == 0:
        return None
    lookups = nd["hits"] + nd["misses"]
    total = int(lookups.sum())
    duration = run.sim_time_s
    top = ", ".join(
        f"key {int(r.key)} ({int(r.requests):,} lookups" + (f", on {r.owners}" if r.owners else "") + ")"
        for r in hk.head(3).itertuples()
    )
    facts: dict[str, Any] = {
        "top_keys": [int(k) for k in hk["key"]],
        "top_requests": [int(x) for x in hk["requests"]],
        "lookups": total,
    }
    text = (
        f"[t=0.0-{duration:.1f} s] Hot keys over the whole run ({window(0, duration)}, "
        f"{total:,} lookups, counts exact to within {int(hk['requests_error'].max()):,}): {top}"
    )
    if len(nd) >= 2 and total:
        i = int(lookups.idxmax())
        busiest, b_n = str(nd.at[i, "node"]), int(lookups[i])
        mean = total / len(nd)
        facts |= {
            "busiest": busiest,
            "busiest_lookups": b_n,
            "mean_lookups": _r(mean, 1),
            "imbalance": _r(b_n / mean, 3),
            "node_lookups": {str(n): int(v) for n, v in zip(nd["node"], lookups, strict=True)},
        }
        text += (
            f". {busiest} did the most lookups, {b_n:,} ({b_n / mean:.2f}x the mean of "
            f"{mean:,.0f}; the quietest, {nd.at[int(lookups.idxmin()), 'node']}, did "
            f"{int(lookups.min()):,})"
        )
        mine = run.hot_keys(node=busiest, top=1)
        if len(mine):
            k, n = int(mine["key"].iloc[0]), int(mine["requests"].iloc[0])
            facts |= {
                "busiest_top_key": k,
                "busiest_top_key_lookups": n,
                "busiest_top_key_share": _r(n / b_n if b_n else 0.0),
            }
            text += f"; its hottest key, key {k}, alone made {n:,} of them ({n / b_n:.0%})"
            if run.config.cluster.routing == "consistent_hash" and b_n / mean > 1.15:
                text += (
                    ": consistent hashing sends every lookup of a key to one node, so the "
                    "node that owns the hottest key carries its whole load"
                )
    changed = run.hot_keys(top=50)
    changed = changed[changed["owner_changed"]]
    if len(changed):
        facts["moved_keys"] = [int(k) for k in changed["key"].head(10)]
        text += ". Keys served by more than one node because their owner changed (a node went down): " + ", ".join(
            f"key {int(r.key)} (home {r.home}, served by {r.owners})" for r in changed.head(3).itertuples()
        )
    return Finding("hot_keys", text + ".", 0.0, duration, facts)


def mechanism_findings(run: RunResult, incs: list[Incident]) -> list[Finding]:
    """Every mechanism finding of a run."""
    out: list[Finding | None] = [node_loss(run, i) for i in incs if i.kind == K.KILL]
    db = database_load(run)
    out += [db, stale_cause(run), hot_keys(run)]
    out.append(herd(run, db))
    return [f for f in out if f is not None]
