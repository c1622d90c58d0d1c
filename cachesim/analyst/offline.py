"""The offline analyst: answers common questions from the run itself, with no LLM.

It reads the question for topics (hit ratio, latency, failures, stale reads, nodes,
database, what changed, compare), a time (``t=10``, ``at 10 s``) and a node
(``node-2``), then answers from the findings and the same tools the LLM uses, and
reports those tool calls so the chat can show its evidence. Deterministic: the same
run and question give the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from .. import derived
from ..events import NETWORK_ACTIONS, VERBS
from .findings import Finding, compute_findings
from .guard import literal
from .incidents import Incident, incidents
from .tools import RunTools, to_json
from .turns import Event, ToolStep, chunk_words

TOPIC_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    {
        "hit": ("hit", "miss", "dip", "drop", "fell", "fall", "cache"),
        "latency": ("latency", "slow", "p99", "p95", "p50", "tail", "response time", "fast"),
        "failures": ("fail", "error", "timeout", "timed out", "retr", "unavailable"),
        "stale": ("stale", "consisten", "invalidat", "outdated", "lease", "gutter", "converg"),
        "nodes": ("node", "imbalanc", "balanc", "busiest", "skew", "shard"),
        "database": ("database", "db", "backend", "origin", "queue"),
        "config": ("policy", "config", "setting", "set up", "setup"),
        "throughput": ("throughput", "rps", "per second", "capacity"),
        "warmup": ("warm", "cold start"),
        "changed": (
            "what changed",
            "what happened",
            "why",
            "explain",
            "summar",
            "overview",
            "incident",
            "chaos",
            "cause",
            "root",
            "went wrong",
            "tell me",
        ),
        "compare": ("compare", " vs", "versus", "differ", "other run", "previous run", "baseline"),
        "hotkeys": ("hot key", "hottest", "popular", "which key", "keys are hot", "key ", "keys "),
        "coalesce": ("coalesc", "herd", "stampede", "concurrent"),
    }.items()
)
_KEY = re.compile(r"\bkey\s*#?(\d+)\b")
_TIME = re.compile(
    r"(?:\bt\s*=\s*|\bat\s+|\baround\s+|\bnear\s+)(\d+(?:\.\d+)?)\s*(?:s\b|sec)?"
    r"|\b(\d+(?:\.\d+)?)\s*(?:s|sec|seconds)\b"
)
_NODE = re.compile(r"\bnode[-_ ]?(\d+)\b")


def run_aliases(run_id: str) -> tuple[str, ...]:
    """How a question may name a run: its id, or the id's first part ("run-3")."""
    head = run_id.split("·")[0].strip().lower()
    return tuple(dict.fromkeys([run_id.lower(), head]))


@dataclass(frozen=True)
class Question:
    text: str
    topics: tuple[str, ...]
    t: float | None
    node: str | None
    run_ref: str | None
    key: int | None = None


def parse_question(text: str, run_ids: tuple[str, ...] = ()) -> Question:
    q = " " + text.lower().strip() + " "
    topics = tuple(k for k, words in TOPIC_WORDS if any(w in q for w in words))
    m = _TIME.search(q)
    t = float(m.group(1) or m.group(2)) if m else None
    n = _NODE.search(q)
    ref = next(
        (
            r
            for r in run_ids
            if any(re.search(rf"(?<![\w-]){re.escape(alias)}(?![\w-])", q) for alias in run_aliases(r))
        ),
        None,
    )
    k = _KEY.search(q)
    return Question(text, topics, t, f"node-{n.group(1)}" if n else None, ref, int(k.group(1)) if k else None)


@dataclass
class OfflineAnalyst:
    """Answers questions about ``tools.run`` from its data."""

    tools: RunTools
    findings: list[Finding] = field(default_factory=list)
    _incidents: list[Incident] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.findings:
            self.findings = compute_findings(self.tools.run)
        self._incidents = incidents(self.tools.run)
        self._steps: list[ToolStep] = []

    # -- evidence ----------------------------------------------------------------------

    def _call(self, name: str, fn, **args):  # type: ignore[no-untyped-def]
        result = fn(**args)
        self._steps.append(ToolStep(f"offline_{len(self._steps) + 1}", name, args, to_json(result)))
        return result

    def _topic(self, topic: str) -> list[Finding]:
        return [f for f in self.findings if f.topic == topic]

    def _near(self, t: float) -> list[Incident]:
        """Incidents whose span contains t, or that started at most 2 s before or 1 s after."""
        return [i for i in self._incidents if i.t - 1.0 <= t <= max(i.end, i.t + 2.0)]

    # -- sections ----------------------------------------------------------------------

    def _at_time(self, q: Question) -> list[str]:
        assert q.t is not None
        t0, t1 = max(0.0, q.t - 2.0), min(self.tools.t_max, q.t + 3.0)
        if t1 <= t0:
            return [f"The run covers t=0-{self.tools.t_max:g} s; t={q.t:g} s is outside it."]
        m = self._call(
            "get_metrics",
            self.tools.metrics,
            t_start=t0,
            t_end=t1,
            metrics=["hit_ratio", "latency_p99_ms", "failed", "db_reads"],
            buckets=5,
        )
        ev = self._call("search_events", self.tools.events, t_start=t0, t_end=t1)
        hrs = [b["hit_ratio"] for b in m["buckets"] if b.get("hit_ratio")]
        lines = []
        near = self._near(q.t)
        if near:
            lines += [i.describe() for i in near]
            lines += [f.text for f in self._topic("node_loss") if any(f.t_start == i.t for i in near)]
        else:
            kinds = sorted({e["kind"] for e in ev["events"]})
            lines.append(
                f"No chaos action happened near t={q.t:g} s"
                + (f" (events there: {', '.join(kinds)})." if kinds else ".")
            )
        if hrs:
            low = min(h["min"] for h in hrs)
            high = max(h["max"] for h in hrs)
            failed = sum(b["failed"] for b in m["buckets"])
            p99 = max((b["latency_p99_ms"]["max"] for b in m["buckets"] if b["latency_p99_ms"]), default=None)
            lines.append(
                f"In [t={t0:.1f}-{t1:.1f} s] the window hit ratio ranged from "
                f"{low:.2f} to {high:.2f}, {failed} requests failed"
                + (f" and the worst window p99 was {p99:.0f} ms." if p99 else ".")
            )
        if not near:
            lines += self._load(derived.per_second(sum(b["db_reads"] for b in m["buckets"]), t1 - t0) or 0.0)
            lines += [f.text for f in self._topic("anomaly")]
        return lines

    def _load(self, db_reads_rps: float) -> list[str]:
        """Whether the database was the bottleneck in a window (no chaos to blame)."""
        db = self.tools.run.config.database
        capacity = db.concurrency * 1000.0 / db.service_time_ms
        verdict = (
            "at or over its capacity: misses queue there, time out and retry"
            if db_reads_rps >= 0.9 * capacity
            else "well within its capacity"
        )
        return [
            f"Database reads ran at {db_reads_rps:.0f}/s there against a capacity of about {capacity:.0f}/s, {verdict}."
        ]

    def _summary(self) -> dict:  # type: ignore[type-arg]
        done = next((st for st in self._steps if st.name == "get_summary"), None)
        return self.tools.summary()["summary"] if done else self._call("get_summary", self.tools.summary)["summary"]

    def _hit(self, q: Question) -> list[str]:
        s = self._summary()
        lines = []
        if s.get("hit_ratio") is not None:
            lines.append(f"The measured hit ratio was {s['hit_ratio']:.3f} ({s['hits']} hits, {s['misses']} misses).")
        dips = [i for i in self._incidents if i.dipped]
        if q.t is None:
            lines += [i.describe() for i in dips]
            lines += [f.text for f in self._topic("node_loss")]
            lines += [f.text for f in self._topic("anomaly") + self._topic("warmup")]
            lines += self._saturation()
        return lines

    def _saturation(self) -> list[str]:
        """The database queue and the misses behind it, when the database is saturated."""
        db = self._topic("db_load")
        if not db or not db[0].facts.get("saturated"):
            return []
        return [db[0].text] + [f.text for f in self._topic("herd")]

    def _latency(self, q: Question) -> list[str]:
        self._summary()
        if q.t is not None:  # the time section already gives the window's p99
            return []
        lines = [f.text for f in self._topic("latency")]
        lines += [
            i.describe()
            for i in self._incidents
            if i.p99_peak_ms and i.p99_before_ms and i.p99_peak_ms > 2 * i.p99_before_ms and q.t is None
        ]
        return lines

    def _failures(self, q: Question) -> list[str]:
        self._summary()
        if q.t is not None:  # the time section already counts the window's failures
            return []
        lines = [f.text for f in self._topic("failures")] or ["No measured request failed."]
        return lines + [i.describe() for i in self._incidents if i.failed]

    def _stale(self, q: Question) -> list[str]:
        self._summary()
        self._call("get_consistency", self.tools.consistency)
        return [f.text for f in self._topic("stale") + self._topic("stale_cause")] or ["There were no stale reads."]

    def _nodes(self, q: Question) -> list[str]:
        window = None if q.t is None else (max(0.0, q.t - 1.0), min(self.tools.t_max, q.t + 2.0))
        args = {"t_start": window[0], "t_end": window[1]} if window else {}
        rows = self._call("compare_nodes", self.tools.nodes, **args)["nodes"]
        lines = [] if window else [f.text for f in self._topic("nodes") + self._topic("hot_keys")]
        if window and rows:
            busy = max(rows, key=lambda r: r["requests"] or 0)
            down = [r["node"] for r in rows if (r.get("up_fraction") or 0) < 1]
            lines.append(
                f"In [t={window[0]:.1f}-{window[1]:.1f} s] {busy['node']} served the most "
                f"requests ({busy['requests']})" + (f"; down for part of it: {', '.join(down)}" if down else "") + "."
            )
        if q.node:
            row = next((r for r in rows if q.node in (r.get("node"), r.get("name"))), None)
            if row is None:
                lines.append(f"There is no {q.node} in this run.")
            else:
                hr = row.get("hit_ratio")
                lines.append(
                    f"{q.node}: {row['requests']} requests, hit ratio {hr:.2f}."
                    if hr is not None
                    else f"{q.node}: no lookups."
                )
                ev = self._call("search_events", self.tools.events, text=q.node)
                if ev["events"]:
                    lines.append("\n".join(f"- t={e['t']:g} s: {e['kind']} ({e['source']})" for e in ev["events"][:6]))
                lines += [f.text for f in self._topic("node_loss") if f.facts.get("target") == q.node]
        return lines

    def _database(self, q: Question) -> list[str]:
        self._summary()
        return [f.text for f in self._topic("database") + self._topic("db_load")]

    def _config(self, q: Question) -> list[str]:
        c = self._call("get_summary", self.tools.summary)
        cfg = self.tools.run.config
        return [
            f"This run: {c['nodes']} nodes of {c['capacity_per_node']:,} items, eviction "
            f"'{c['eviction']}', routing '{c['routing']}', write policy '{c['write_policy']}'"
            + (f", a {cfg.cluster.ttl_s:g} s TTL" if cfg.cluster.ttl_s else ", no TTL")
            + f", coalescing {'on' if cfg.cluster.coalesce_misses else 'off'}; "
            f"{c['rate_rps']:g} requests/s with {c['write_ratio']:.0%} writes, client timeout "
            f"{c['timeout_ms']:g} ms."
        ]

    def _hotkeys(self, q: Question) -> list[str]:
        by = "misses" if "miss" in q.text.lower() else "requests"
        res = self._call("get_hot_keys", self.tools.hot_keys, node=q.node, by=by, top=10)
        rows = res["keys"]
        if not rows:
            return ["This run has no hot-key data."]
        if q.key is not None:
            more = self._call("get_hot_keys", self.tools.hot_keys, top=50)["keys"]
            row = next((r for r in more if r["key"] == q.key), None)
            if row is None:
                return [f"Key {q.key} is not among the 50 hottest keys of the run."]
            where = (f"its home is {row['home']}; " if row["home"] else "") + f"served by {row['owners'] or 'no node'}"
            return [
                f"Key {q.key}, over the whole run (t=0.0-{self.tools.t_max:.1f} s): "
                f"{row['requests']:,} lookups and {row['misses']:,} misses; {where}"
                + ("; its owner changed (a node went down)" if row["owner_changed"] else "")
                + "."
            ]
        scope = f"on {q.node}" if q.node else "in the cluster"
        what = "misses" if by == "misses" else "lookups"
        lines = [
            f"The hottest keys {scope} by {what}, over the whole run (t=0.0-"
            f"{self.tools.t_max:.1f} s, counts exact to within "
            f"{max(r[by + '_error'] for r in rows):,}):\n"
            + "\n".join(
                f"- key {r['key']}: {r['requests']:,} lookups, {r['misses']:,} misses"
                + (f", on {r['owners']}" if r["owners"] else "")
                + (" (owner changed)" if r["owner_changed"] else "")
                for r in rows[:5]
            )
        ]
        if q.node is None:
            lines += [f.text for f in self._topic("hot_keys")]
        return lines

    def _coalesce(self, q: Question) -> list[str]:
        from .mechanisms import describe_what_if

        lines = [f.text for f in self._topic("herd")]
        w = self._call("what_if_coalescing", self.tools.coalescing_what_if)
        lines.append(describe_what_if(w))
        return lines

    def _throughput(self, q: Question) -> list[str]:
        s = self.tools.run.summary
        return [
            f"Throughput was {s['throughput_rps'] or 0:.0f} completed requests/s against "
            f"{self.tools.run.config.workload.rate_rps:g} offered."
        ]

    def _warmup(self, q: Question) -> list[str]:
        return [f.text for f in self._topic("warmup")] or [
            "The caches were warm from the start (no slow climb in the hit ratio)."
        ]

    def _changed(self, q: Question) -> list[str]:
        lines = [self.findings[0].text]
        incs = [f.text for f in self._topic("incident")]
        lines += incs or ["No chaos action was scheduled in this run."]
        lines += [f.text for f in self._topic("node_loss")]
        lines += [f.text for f in self._topic("anomaly")]
        self._call("search_events", self.tools.events, source="chaos")
        return lines

    def _compare(self, q: Question) -> list[str]:
        others = list(self.tools.others)
        if not others:
            return [
                "There is no other run in this session to compare with: run another "
                "scenario (or the same one with a change), then ask again."
            ]
        ref = q.run_ref or others[-1]
        d = self._call("compare_runs", self.tools.compare, other_run_id=ref)
        keys = ("hit_ratio", "latency_p99_ms", "failed", "throughput_rps", "stale_reads", "db_load_rps")
        diffs = {x["metric"]: x for x in d["summary_differences"] if x["metric"] in keys}
        rows = []
        for k in keys:
            if k in diffs:
                a, b = diffs[k]["this"], diffs[k]["other"]
                delta = f" ({a - b:+.3g})" if isinstance(a, (int, float)) and isinstance(b, (int, float)) else ""
                rows.append(
                    f"- {k}: {a:.4g} here vs {b:.4g} in {literal(ref)}{delta}"
                    if delta
                    else f"- {k}: {a} here vs {b} in {literal(ref)}"
                )
        lines = [
            f"Compared with {literal(ref)}:\n" + ("\n".join(rows) if rows else "- the headline figures are identical")
        ]
        cfg = [
            f"{c['key']} ({literal(c['this'])} vs {literal(c['other'])})"
            for c in d["config_differences"][:6]
            if c["key"] not in ("name", "description")
        ]
        lines.append("Config differences: " + ("; ".join(cfg) if cfg else "none") + ".")
        return lines

    # -- answering ---------------------------------------------------------------------

    def compose(self, question: str) -> tuple[str, list[ToolStep]]:
        """The answer text and the tool steps behind it."""
        self._steps = []
        q = parse_question(question, tuple(self.tools.others))
        sections: list[str] = []
        if q.t is not None:
            sections += self._at_time(q)
        order = (
            "compare",
            "config",
            "hit",
            "latency",
            "failures",
            "stale",
            "nodes",
            "hotkeys",
            "coalesce",
            "database",
            "throughput",
            "warmup",
        )
        for topic in order:
            if topic in q.topics and not (topic == "hit" and q.t is not None):
                sections += getattr(self, f"_{topic}")(q)
        if q.node and "nodes" not in q.topics:
            sections += self._nodes(q)
        if not sections or ("changed" in q.topics and q.t is None and len(q.topics) == 1):
            sections += self._changed(q)
        if not q.topics and q.t is None and q.node is None:
            sections.append(
                "Ask about the hit ratio, latency, failures, stale reads, a node, "
                "the database, a time (t=10 s) or what changed."
            )
        unique = list(dict.fromkeys(sections))
        text = "\n\n".join(unique)
        return text, list(self._steps)

    def answer(self, question: str) -> Iterator[Event]:
        text, steps = self.compose(question)
        for s in steps:
            yield ToolStep(s.call_id, s.name, s.args)
            yield s
        yield from chunk_words(text)


def suggestions(tools: RunTools, findings: list[Finding], asked: tuple[str, ...] = (), limit: int = 3) -> list[str]:
    """Follow-up questions worth asking about this run, minus those already asked."""
    out = []
    for f in findings:
        if f.topic == "incident":
            kind, target, t = f.facts["kind"], f.facts["target"], f.facts["t"]
            verb = VERBS.get(kind, kind)  # type: ignore[call-overload]
            on = "the network" if kind in NETWORK_ACTIONS else target or "the network"
            out.append(f"What happened when chaos {verb} {on} at t={t:g} s?")
    if any(f.topic == "node_loss" for f in findings):
        out.append("Why did the hit ratio drop?")
    if any(f.topic == "anomaly" for f in findings):
        out.append("Why did the hit ratio drop without any chaos?")
    if any(f.topic == "db_load" and f.facts.get("saturated") for f in findings):
        out.append("What would coalescing change?")
    out += ["Which keys are hot?", "Which node was the busiest, and why?", "How did latency behave?"]
    if any(f.topic == "stale" and "stale_reads" in f.facts for f in findings):
        out.append("Where did the stale reads come from?")
    if tools.others:
        out.append(f"Compare this run with {list(tools.others)[-1]}.")
    out.append("What changed over the run?")
    seen = {a.strip().lower() for a in asked}
    return [q for q in dict.fromkeys(out) if q.lower() not in seen][:limit]
