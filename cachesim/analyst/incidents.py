"""What each chaos action did to a run, measured from its time series and event log.

An :class:`Incident` is one fault (kill, restart, slow, partition, loss) and what the
metrics did in the window after it: the hit ratio before, its lowest point, when it
came back; the requests that failed; the latency peak; when the balancer noticed.
Everything here is computed from the ``RunResult`` (no guessing, no text parsing of
event messages), so the numbers can be checked against ``res.timeseries()``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import derived
from .. import events as vocab
from ..events import EventKind as K
from ..results import RunResult

#: Chaos actions that start an incident (heal only ends one).
FAULT_KINDS = vocab.FAULT_KINDS
CHAOS = vocab.SOURCES[vocab.Group.CHAOS]
#: Seconds before a fault that define "normal" for it.
BASELINE_S = 2.0
#: Seconds after a fault (or after the fault is healed) that are searched for its effect.
HORIZON_S = 5.0
#: Windows averaged when deciding that the hit ratio has recovered.
RECOVERY_WINDOWS = 5


@dataclass(frozen=True)
class Incident:
    """One chaos fault and its measured effect (times in simulated seconds)."""

    t: float
    kind: str
    target: str
    healed_at: float | None  # what undid it (cachesim.events.undoes), if anything did
    window_end: float  # end of the searched window
    detected_at: float | None  # balancer marked the target down (or up, after a restart)
    hr_before: float | None  # mean window hit ratio over BASELINE_S before the fault
    hr_low: float | None  # lowest window hit ratio in the window
    hr_low_t: float | None
    dipped: bool  # the low is a real drop, not noise
    recovered_at: float | None  # rolling hit ratio back near hr_before
    hr_recovered: float | None
    failed: int  # requests failed in the window
    timeouts: int
    fail_first_t: float | None  # first and last snapshot with failures or timeouts
    fail_last_t: float | None
    p99_before_ms: float | None
    p99_peak_ms: float | None
    p99_peak_t: float | None
    db_reads_before_rps: float | None
    db_reads_peak_rps: float | None
    stale_reads: int  # stale reads in the window
    stale_reads_before: int  # stale reads in an equally long window before the fault
    target_kind: str = vocab.TargetKind.ENDPOINTS  # what target names (cachesim.events.TargetKind)

    @property
    def end(self) -> float:
        """Where the incident's cited time range ends."""
        healed = self.healed_at if self.kind != K.KILL else None  # a restart is its own incident
        ends = [t for t in (self.recovered_at, self.fail_last_t, healed) if t is not None]
        return max(ends) if ends else min(self.window_end, self.t + 1.0)

    def describe(self) -> str:
        """One paragraph with the numbers and the cited time range."""
        what = vocab.VERBS[K(self.kind)]
        on = "the network" if self.target_kind == vocab.TargetKind.NETWORK else self.target or "the network"
        parts = [f"[t={self.t:.1f}-{self.end:.1f} s] chaos {what} {on} at t={self.t:.1f} s"]
        if self.healed_at is not None:
            parts[0] += (
                f" (restarted at t={self.healed_at:.1f} s)"
                if self.kind == K.KILL
                else f" (healed at t={self.healed_at:.1f} s)"
            )
        if self.detected_at is not None:
            verb = "healthy again" if self.kind == K.RESTART else "down"
            parts.append(
                f"the balancer marked it {verb} at t={self.detected_at:.2f} s, {self.detected_at - self.t:.2f} s later"
            )
        if self.hr_low is not None and self.hr_before is not None:
            if self.dipped:
                parts.append(
                    f"the hit ratio fell from {self.hr_before:.2f} to {self.hr_low:.2f} "
                    f"at t={self.hr_low_t:.1f} s, {self.hr_low_t - self.t:.1f} s after it"
                )
                if self.recovered_at is not None:
                    parts.append(f"it recovered to {self.hr_recovered:.2f} by t={self.recovered_at:.1f} s")
                else:
                    parts.append(f"it had not recovered to {self.hr_before:.2f} by t={self.window_end:.1f} s")
            else:
                parts.append(f"the hit ratio held near {self.hr_before:.2f} (lowest window {self.hr_low:.2f})")
        span = f"between t={self.fail_first_t or 0:.1f} and t={self.fail_last_t or 0:.1f} s"
        if self.failed:
            parts.append(f"{self.failed} requests failed and {self.timeouts} attempts timed out " + span)
        elif self.timeouts:
            parts.append(f"no request failed, but {self.timeouts} attempts timed out {span} and were retried")
        else:
            parts.append("no request failed")
        if self.p99_peak_ms is not None and self.p99_before_ms and self.p99_peak_ms > 2 * self.p99_before_ms:
            parts.append(
                f"p99 latency peaked at {self.p99_peak_ms:.0f} ms at "
                f"t={self.p99_peak_t:.1f} s "
                f"(about {self.p99_before_ms:.0f} ms before)"
            )
        if (
            self.db_reads_peak_rps
            and self.db_reads_before_rps
            and self.db_reads_peak_rps > 1.3 * self.db_reads_before_rps
        ):
            parts.append(
                f"database reads rose from {self.db_reads_before_rps:.0f}/s to a peak of {self.db_reads_peak_rps:.0f}/s"
            )
        if self.stale_reads > max(10, 3 * self.stale_reads_before):
            parts.append(
                f"{self.stale_reads} stale reads followed ({self.stale_reads_before} in as long a stretch before)"
            )
        return "; ".join(parts) + "."


def _mean(s: pd.Series) -> float | None:
    s = s.dropna()
    return float(s.mean()) if len(s) else None


def _median(s: pd.Series) -> float | None:
    s = s.dropna()
    return float(s.median()) if len(s) else None


def _span(ts: pd.DataFrame, t0: float, t1: float) -> pd.DataFrame:
    """Snapshots whose window ends in (t0, t1]."""
    return ts[(ts["t"] > t0 + 1e-9) & (ts["t"] <= t1 + 1e-9)]


def _heal_time(events: pd.DataFrame, ev: pd.Series) -> float | None:
    """When the fault ``ev`` was undone (cachesim.events.undoes: a restart ends a kill, a
    heal of its target or of everything a slowdown or partition, the network's next
    loss or heal a loss)."""
    undo = [k.value for k in vocab.UNDONE_BY.get(ev.kind, ())]
    later = events[(events["t"] > ev.t) & (events["source"] == CHAOS) & events["kind"].isin(undo)]
    for row in later.itertuples(index=False):
        if vocab.undoes(ev, row):
            return float(row.t)
    return None


def _detection(events: pd.DataFrame, ev: pd.Series, t_end: float) -> float | None:
    kind = K.NODE_UP_DETECTED if ev.kind == K.RESTART else K.NODE_DOWN_DETECTED
    targets = vocab.endpoints(ev.target, ev.target_kind)
    hits = events[
        (events["kind"] == kind) & (events["t"] >= ev.t) & (events["t"] <= t_end) & events["target"].isin(targets)
    ]
    return float(hits["t"].iloc[0]) if len(hits) else None


def _rate(df: pd.DataFrame, col: str) -> pd.Series:
    return pd.Series(derived.ratios(df[col], df["interval_s"]), index=df.index)  # per second, NaN for no time


def analyse_incident(run: RunResult, ev: pd.Series, next_fault_t: float | None) -> Incident:
    """Measure what the chaos event ``ev`` (a row of ``run.events()``) did."""
    ts, events = run.timeseries(), vocab.complete(run.events())
    if "target_kind" not in ev.index:
        ev = vocab.complete(ev.to_frame().T).iloc[0]
    end_of_run = float(ts["t"].iloc[-1]) if len(ts) else float(ev.t)
    t0 = float(ev.t)
    healed = _heal_time(events, ev)
    ends_at = healed if healed is not None and ev.kind != K.KILL else t0
    window_end = min(ends_at + HORIZON_S, end_of_run)
    if next_fault_t is not None and next_fault_t > t0:
        window_end = min(window_end, next_fault_t)
    before, after = _span(ts, t0 - BASELINE_S, t0), _span(ts, t0, window_end)
    hr_before = _mean(before["hit_ratio"])
    noise = float(before["hit_ratio"].std()) if before["hit_ratio"].notna().sum() > 2 else 0.0
    hr = after["hit_ratio"]
    hr_low = hr_low_t = None
    dipped = False
    recovered_at = hr_recovered = None
    if hr.notna().any():
        i = hr.idxmin()
        hr_low, hr_low_t = float(hr[i]), float(after.at[i, "t"])
        if hr_before is not None:
            dipped = hr_before - hr_low > max(0.08, 3 * (0.0 if math.isnan(noise) else noise))
        if dipped:
            tol = max(0.03, 0.0 if math.isnan(noise) else noise)
            tail = hr[after["t"] > max(hr_low_t, ends_at)]
            rolling = tail.rolling(RECOVERY_WINDOWS, min_periods=RECOVERY_WINDOWS).mean()
            later = rolling[rolling >= hr_before - tol]
            if len(later):
                recovered_at = float(after.at[later.index[0], "t"])
                hr_recovered = float(later.iloc[0])
    bad = after[(after["failed"] > 0) | (after["timeouts"] > 0)]
    p99 = after["latency_p99_ms"]
    peak = p99.idxmax() if p99.notna().any() else None
    stale_before = _span(ts, t0 - (window_end - t0), t0)["stale_reads"].sum()
    return Incident(
        t=t0,
        kind=str(ev.kind),
        target=str(ev.target),
        target_kind=str(ev.target_kind),
        healed_at=healed,
        window_end=window_end,
        detected_at=_detection(events, ev, window_end),
        hr_before=hr_before,
        hr_low=hr_low,
        hr_low_t=hr_low_t,
        dipped=dipped,
        recovered_at=recovered_at,
        hr_recovered=hr_recovered,
        failed=int(after["failed"].sum()),
        timeouts=int(after["timeouts"].sum()),
        fail_first_t=float(bad["t"].iloc[0]) if len(bad) else None,
        fail_last_t=float(bad["t"].iloc[-1]) if len(bad) else None,
        p99_before_ms=_median(before["latency_p99_ms"]),
        p99_peak_ms=float(p99[peak]) if peak is not None else None,
        p99_peak_t=float(after.at[peak, "t"]) if peak is not None else None,
        db_reads_before_rps=_mean(_rate(before, "db_reads")),
        db_reads_peak_rps=float(np.nanmax(_rate(after, "db_reads"))) if len(after) else None,
        stale_reads=int(after["stale_reads"].sum()),
        stale_reads_before=int(stale_before),
    )


def incidents(run: RunResult) -> list[Incident]:
    """Every chaos fault in the run, in time order, with its measured effect."""
    events = vocab.complete(run.events())
    faults = events[(events["source"] == CHAOS) & events["kind"].isin([k.value for k in FAULT_KINDS])]
    faults = faults.sort_values("t", kind="stable")
    times = list(faults["t"])
    out = []
    for i, (_, ev) in enumerate(faults.iterrows()):
        later = [t for t in times[i + 1 :] if t > ev.t]
        out.append(analyse_incident(run, ev, later[0] if later else None))
    return out
