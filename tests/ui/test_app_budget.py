"""The deployment's budget and what the browser may send: limits from secrets and the
environment, the estimate, one-line refusals naming the limit and how to raise it,
trace names only, capped query parameters, user text kept as text."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from cachesim.config import SimConfig
from cachesim.events import UNDONE_BY, scope, target_kind_of, undoes
from cachesim.ui import budget
from cachesim.ui.budget import Limits, check_run, check_sweep, estimate, limits_from
from cachesim.ui.chaos_editor import schedule_spans
from cachesim.ui.inputs import trace_problem
from cachesim.ui.text import JOINER, plain


def test_limits_come_from_secrets_then_the_environment():
    lim = limits_from(
        {"CACHESIM_MAX_REQUESTS_PER_RUN": "50_000_000"},
        {
            "CACHESIM_MAX_REQUESTS_PER_RUN": "7",
            "CACHESIM_MAX_CONCURRENT_RUNS": "6",
            "CACHESIM_ANALYST_MAX_ANSWER_S": "12.5",
            "CACHESIM_MAX_KEYS": "-3",
            "CACHESIM_MAX_CHAOS_EVENTS": "lots",
        },
    )
    assert lim.max_requests_per_run == 50_000_000  # secrets win
    assert lim.max_concurrent_runs == 6 and lim.analyst_max_answer_s == 12.5
    assert lim.max_keys == Limits().max_keys and lim.max_chaos_events == Limits().max_chaos_events  # bad: default
    assert limits_from(None, {}) == Limits()


def test_the_estimate_counts_requests_rows_and_wall_time():
    cfg = SimConfig().with_overrides({"workload.rate_rps": 2000, "duration_s": 30, "cluster.nodes": 8})
    est = estimate(cfg, speed_rps=60_000)
    assert est.requests == 60_000 and est.snapshot_cells == 300 * 8 and est.wall_s == pytest.approx(1.0)
    assert budget.describe(est) == "about 60,000 simulated requests · ~1 s of server time"


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        (
            {"workload.rate_rps": 1e6, "duration_s": 86_400},
            ["86,400,000,000", "1,000,000 per run", "CACHESIM_MAX_REQUESTS_PER_RUN"],
        ),
        (
            {"cluster.nodes": 256, "snapshot_interval_s": 0.001, "duration_s": 1.0},
            ["256,000 snapshot rows", "CACHESIM_MAX_SNAPSHOT_CELLS_PER_RUN"],
        ),
        ({"workload.keys": 10_000_000}, ["workload.keys", "CACHESIM_MAX_KEYS"]),
        ({"workload.trace": "/etc/passwd"}, ["server paths are not accepted"]),
    ],
)
def test_an_over_budget_run_is_one_line_naming_the_limit(overrides, fragments):
    message = check_run(SimConfig().with_overrides(overrides), Limits())
    assert message is not None and "\n" not in message
    for fragment in fragments:
        assert fragment in message
    assert "passwd" not in message


def test_many_chaos_events_are_over_budget():
    events = [{"at_s": i * 0.01, "action": "slow", "target": "node-1", "duration_s": 0.01} for i in range(300)]
    cfg = SimConfig.model_validate({"chaos": {"events": events}})
    assert "CACHESIM_MAX_CHAOS_EVENTS" in check_run(cfg, Limits())
    assert check_run(SimConfig(), Limits()) is None


def test_a_sweep_has_a_whole_sweep_budget():
    small = SimConfig().with_overrides({"duration_s": 10})  # 20,000 requests
    assert check_sweep([small] * 10, Limits()) is None
    assert "CACHESIM_MAX_SWEEP_RUNS" in check_sweep([small] * 61, Limits(max_sweep_runs=60))
    assert "CACHESIM_MAX_REQUESTS_PER_SWEEP" in check_sweep([small] * 10, Limits(max_requests_per_sweep=100_000))
    big = SimConfig().with_overrides({"workload.rate_rps": 1e6, "duration_s": 100})
    assert check_sweep([small, big], Limits()).startswith("Sweep run 2: This run needs")


@pytest.mark.parametrize(
    "value",
    [
        ".streamlit/secrets.toml",
        "/etc/shadow",
        "../x.csv",
        "sample:../etc/passwd",
        "upload:",
        "sample:a/b",
        "file:///etc/passwd",
        "C:\\x.csv",
        5,
    ],
)
def test_a_trace_from_the_browser_is_a_name_never_a_path(value):
    message = trace_problem(value)
    assert message is not None and message.startswith("workload.trace:")
    assert "shadow" not in message and "secrets" not in message


def test_trace_names_and_uploads():
    assert trace_problem(None) is None and trace_problem("  ") is None
    assert trace_problem("sample:zipf_0.9") is None and trace_problem("upload:my trace.csv") is None
    assert "no uploaded trace" in trace_problem("upload:other.csv", uploads=["mine.csv"])


def test_user_text_renders_as_text():
    text = "![x](https://evil.example/p.png) [a](https://evil.example) **b** :red[c] :material/home: <b>"
    escaped = plain(text, None)
    assert re.sub(r"\\(.)", r"\1", escaped).replace(JOINER, "") == text  # shows exactly what was typed
    assert not re.search(r"https?://[-.\w]", escaped.replace("\\", ""))  # remark-gfm's pattern: no link
    assert "](" not in escaped and "![" not in escaped and ":red[" not in escaped
    assert plain("x" * 500).endswith("…") and len(plain("a\nb\tc")) == len("a b c")


def _spans_by_scan(schedule: pd.DataFrame, duration_s: float) -> list[float]:
    """The definition, one pair of rows at a time (cachesim.events.undoes; O(n^2))."""
    df = schedule.copy()
    df["target"] = df["target"].fillna("").astype(str)
    df["target_kind"] = [target_kind_of(a, t) for a, t in zip(df["action"], df["target"], strict=True)]
    rows = list(df.rename(columns={"action": "kind"}).itertuples(index=False))  # an action is the kind it logs
    ends = []
    for row in rows:
        if pd.notna(row.duration_s):
            ends.append(row.at_s + row.duration_s)
            continue
        later = [r.at_s for r in rows if r.at_s > row.at_s and undoes(row, r)]
        ends.append(row.at_s if row.kind not in UNDONE_BY else min(later) if later else duration_s)
    return [max(min(e, duration_s), a + duration_s / 150) for e, a in zip(ends, df["at_s"], strict=True)]


def test_schedule_spans_agree_with_the_definition():
    import random

    rng = random.Random(3)
    rows = [
        {
            "at_s": round(rng.uniform(0, 30), 1),
            "action": rng.choice(list(UNDONE_BY) + ["restart", "heal"]),
            "target": rng.choice(["node-1", "node-2", "", "node-3"]),
            "duration_s": rng.choice([None, 2.0]),
        }
        for _ in range(400)
    ]
    schedule = pd.DataFrame(rows)
    spans = schedule_spans(schedule, 30.0)
    assert spans["end_s"].tolist() == pytest.approx(_spans_by_scan(schedule, 30.0))
    # an empty target is drawn as what the action acts on; a loss acts on the network whatever its target
    assert set(spans.loc[schedule["action"] == "loss", "target"]) == {"network"}
    assert set(spans.loc[(schedule["action"] == "heal") & (schedule["target"] == ""), "target"]) == {"all"}
    assert scope("node-1", target_kind_of("heal", "node-1")) == "node-1"


def test_a_fresh_result_is_measured_without_building_its_node_frame():
    """The runs kept per session are trimmed by bytes: a result straight from the engine
    holds its node timeseries as the engine's columns until asked (it used to fail here)."""
    import cachesim
    from cachesim.ui.state import result_bytes

    result = cachesim.simulate(SimConfig(duration_s=5.0, warmup_s=0.0, seed=3))
    assert callable(result._node_timeseries)  # not built yet
    lazy = result_bytes(result)
    assert callable(result._node_timeseries)  # measuring did not build it
    frames = sum(int(f.memory_usage(index=True).sum()) for f in (result.timeseries(), result.nodes()))
    assert frames < lazy < frames + 20 * result.node_timeseries().memory_usage(index=True).sum()
    built = result.nbytes()
    assert built > frames and not callable(result._node_timeseries)
