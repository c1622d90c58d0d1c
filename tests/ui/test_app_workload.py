"""AppTest of the Workload page: a built-in sample's analysis and curves, the button
that puts the trace and capacity into the sidebar config, uploads (good, bad, too
big), and the page's plain helpers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zstandard
from streamlit.testing.v1 import AppTest

from cachesim.samples import sample_trace
from cachesim.traces import Trace, TraceError, write_trace
from cachesim.ui import workload as wl
from tests.ui.helpers import APP

PAGE = "pages/6_Workload.py"


def workload_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def chart_titles(at: AppTest) -> list[str]:
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart") + at.get("arrow_vega_lite_chart")]
    return [str(s.get("title", "")) for s in specs]


@pytest.fixture(scope="module")
def sample_page() -> AppTest:
    return workload_page()


def test_a_sample_is_analysed(sample_page: AppTest) -> None:
    at = sample_page
    assert at.selectbox(key="workload.sample").value == "zipf"
    metrics = {m.label: m.value for m in at.metric}
    summary = wl.summarise(sample_trace("zipf"))
    assert metrics["Requests"] == "100,000"
    assert metrics["Objects"] == f"{summary.objects:,}"
    assert metrics["Zipf alpha (fit)"] == f"{summary.zipf_alpha:.2f}"
    titles = chart_titles(at)
    assert any(t.startswith("Key popularity") and "alpha" in t for t in titles)
    assert any(t.startswith("Reuse distance") for t in titles)
    assert any(t.startswith("Miss-ratio curves") for t in titles)
    table = at.dataframe[0].value
    assert list(table["policy"]) == ["lru", "s3fifo"]
    lru = wl.curve_for_app(sample_trace("zipf"), "lru", use_bytes=False, rate=None)
    assert table.iloc[0, 2] == f"{lru.capacity_for(0.9):,}"


def test_the_button_sets_trace_capacity_and_policy(sample_page: AppTest) -> None:
    at = sample_page
    nodes = at.session_state["cfg.values"]["cluster.nodes"]
    lru = wl.curve_for_app(sample_trace("zipf"), "lru", use_bytes=False, rate=None)
    per_node = wl.per_node_capacity(lru.capacity_for(0.9), nodes)
    at.selectbox(key="workload.run_policy").set_value("lru").run()
    button = at.button(key="workload.apply")
    assert button.label == f"Use this trace with {per_node:,} objects per node"
    button.click().run()
    assert not at.exception
    values = at.session_state["cfg.values"]
    assert values["workload.trace"] == "sample:zipf"
    assert values["cluster.capacity"] == per_node
    assert values["cluster.eviction"] == "lru"
    assert "workload.trace = sample:zipf" in at.success[0].value
    # the sidebar's capacity widget shows the new value, and the config is valid
    assert at.number_input(key="sb:cluster.capacity").value == per_node
    assert not at.error


@pytest.mark.slow
def test_switching_unit_and_sampling(sample_page: AppTest) -> None:
    at = sample_page
    at.selectbox(key="workload.rate").set_value("SHARDS 1%").run()
    assert "shards (0.01)" in list(at.dataframe[0].value["method"])
    at.radio(key="workload.unit").set_value("bytes").run()
    assert not at.exception
    assert "bytes" in at.dataframe[0].value.columns[2]
    # in bytes, the button sizes the nodes in bytes (and the item capacity stops binding)
    at.selectbox(key="workload.rate").set_value("exact").run()  # sampled at 1%, 90% is not reached
    nodes = at.session_state["cfg.values"]["cluster.nodes"]
    lru = wl.curve_for_app(sample_trace("zipf"), "lru", use_bytes=True, rate=None)
    per_node = wl.per_node_capacity(lru.capacity_for(0.9), nodes)
    at.selectbox(key="workload.run_policy").set_value("lru").run()
    button = at.button(key="workload.apply")
    assert button.label == f"Use this trace with {per_node:,} bytes per node"
    button.click().run()
    values = at.session_state["cfg.values"]
    assert (values["cluster.capacity_bytes"], values["cluster.capacity"]) == (per_node, 0)
    assert "cluster.capacity_bytes = " in at.success[0].value
    assert not at.exception and not at.error


def _csv_upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.radio(key="workload.source").set_value("Upload").run()
    at.file_uploader(key="workload.upload").set_value((name, data, "text/csv")).run()
    assert not at.exception
    return at


@pytest.mark.slow
def test_upload_a_trace_and_use_it(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    keys = rng.zipf(1.3, size=20_000) % 3000
    trace = Trace(keys=keys.astype(np.int64), sizes=np.full(20_000, 100, np.int64))
    raw = write_trace(trace, tmp_path / "t.oracleGeneral.bin").read_bytes()
    at = workload_page()
    at = _csv_upload(at, "my trace.bin.zst", zstandard.ZstdCompressor().compress(raw))
    assert at.success[0].value == "Read my trace.bin.zst: 20,000 requests."
    uploaded = at.session_state["traces"]["my trace.bin.zst"]
    np.testing.assert_array_equal(uploaded.keys, trace.keys)
    assert {m.label: m.value for m in at.metric}["Requests"] == "20,000"
    at.button(key="workload.apply").click().run()
    assert at.session_state["cfg.values"]["workload.trace"] == "upload:my trace.bin.zst"


@pytest.mark.slow
def test_a_bad_upload_gives_one_line_and_keeps_everything() -> None:
    at = workload_page()
    at = _csv_upload(at, "good.csv", b"key\n1\n2\n1\n3\n1\n")
    before = dict(at.session_state["cfg.values"])
    at.file_uploader(key="workload.upload").set_value(("bad.csv", b"key,KEY\n1,2\n", "text/csv")).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors == [
        "bad.csv: line 1: column 'key' appears more than once in the header "
        "(names are compared ignoring case and spaces)"
    ]
    assert list(at.session_state["traces"]) == ["good.csv"]  # the good one is still there
    assert at.selectbox(key="workload.uploaded").value == "good.csv"
    assert dict(at.session_state["cfg.values"]) == before


def test_helpers() -> None:
    assert wl.upload_limit_mb(None, {}) == 20
    assert wl.upload_limit_mb({"CACHESIM_MAX_UPLOAD_MB": "5"}, {}) == 5
    assert wl.upload_limit_mb({"CACHESIM_MAX_UPLOAD_MB": 5}, {"CACHESIM_MAX_UPLOAD_MB": "7"}) == 7
    assert wl.upload_limit_mb(None, {"CACHESIM_MAX_UPLOAD_MB": "lots"}) == 20
    assert wl.upload_limit_mb(None, {"CACHESIM_MAX_UPLOAD_MB": "0"}) == 20
    assert wl.clean_name("a\nb\tc.csv") == "a b c.csv" and wl.clean_name("  ") == "upload"
    assert wl.per_node_capacity(1001, 4) == 251 and wl.per_node_capacity(3, 8) == 1
    with pytest.raises(TraceError, match="over the 1 MB upload limit"):
        wl.parse_upload(b"key\n" + b"1\n" * 600_000, "big.csv", 1)
    # Zipf fit: the zipf sample was made with alpha 0.9
    assert wl.summarise(sample_trace("zipf")).zipf_alpha == pytest.approx(0.9, abs=0.08)
    counts = (1e6 / np.arange(1, 2001) ** 1.2).astype(np.int64)
    assert wl.fit_zipf(counts)[0] == pytest.approx(1.2, abs=0.02)
    assert wl.fit_zipf(np.array([1, 1, 1]))[0] == 0.0
    reuse = wl.summarise(sample_trace("scan")).reuse
    assert reuse["share"].sum() == pytest.approx(1 - wl.summarise(sample_trace("scan")).cold_share)
