"""Hot keys: the Space-Saving sketch against exact counts, and what a run reports."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import cachesim
from cachesim.hotkeys import SpaceSaving, merged, sizes


def _zipf_stream(seed: int, n: int, keys: int, alpha: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, keys + 1) ** alpha
    return rng.choice(keys, size=n, p=p / p.sum()).astype(np.int64)


@pytest.mark.parametrize(("seed", "alpha", "k", "batch"), [(1, 0.9, 100, 4096), (2, 1.2, 50, 1000), (3, 0.6, 200, 777)])
def test_space_saving_bound_against_exact_counts(seed, alpha, k, batch):
    stream = _zipf_stream(seed, 60_000, 20_000, alpha)
    s = SpaceSaving(k)
    for start in range(0, len(stream), batch):
        s.update(stream[start : start + batch])
    exact = Counter(stream.tolist())
    n = len(stream)
    assert s.n == n and len(s.keys) == k
    assert s.floor <= n / k
    for key, count, err in zip(s.keys.tolist(), s.counts.tolist(), s.errors.tolist(), strict=True):
        true = exact[key]
        assert 0 <= count - true <= err <= n / k  # an overestimate, within its error
    held = set(s.keys.tolist())
    for key, true in exact.items():  # every key seen more than N/k times is held
        if true > n / k:
            assert key in held
        if key not in held:
            assert true <= s.floor
    # the top 10 by sketch count are the true top 10 on a skewed stream
    top = [int(x) for x in s.keys[np.lexsort((s.keys, -s.counts))][:10]]
    if alpha >= 0.9:
        assert top == [key for key, _ in exact.most_common(10)]


def test_merged_sketches_keep_the_bound():
    a, b = _zipf_stream(4, 30_000, 5000, 1.0), _zipf_stream(5, 20_000, 5000, 1.0) + 7
    sa, sb = SpaceSaving(64), SpaceSaving(64)
    sa.update(a)
    sb.update(b)
    keys, upper, err = merged([sa, sb])
    exact = Counter(a.tolist()) + Counter(b.tolist())
    n = len(a) + len(b)
    for key, u, e in zip(keys.tolist(), upper.tolist(), err.tolist(), strict=True):
        assert 0 <= u - exact[key] <= e <= n / 64


def test_exact_while_the_keys_fit():
    s = SpaceSaving(10)
    s.update(np.array([3, 1, 3, 2, 3, 1], dtype=np.int64))
    assert dict(zip(s.keys.tolist(), s.counts.tolist(), strict=True)) == {1: 2, 2: 1, 3: 3}
    assert s.errors.tolist() == [0, 0, 0] and s.floor == 0
    assert s.estimate(3) == (3, 0) and s.estimate(99) == (0, 0)


SHORT = {"duration_s": 6.0, "warmup_s": 1.0}


@pytest.fixture(scope="module")
def hot_run():
    """A short hot_key run with exact per-node key counts captured beside the sketches."""
    cfg = cachesim.load_scenario("hot_key").with_overrides(SHORT)
    sim = cachesim.Simulation(cfg)
    exact = {"hit": [Counter() for _ in sim.nodes], "miss": [Counter() for _ in sim.nodes]}
    for node in sim.nodes:
        for part, attr in (("hit", "_hk_hit"), ("miss", "_hk_miss")):
            real, c = getattr(node, attr), exact[part][node.index]

            def both(key, real=real, c=c):
                c[key] += 1
                real(key)

            setattr(node, attr, both)
    return sim.run(), exact


def test_run_hot_keys_match_exact_counts(hot_run):
    res, exact = hot_run
    req = sum((h + m for h, m in zip(exact["hit"], exact["miss"], strict=True)), Counter())
    miss = sum(exact["miss"], Counter())
    n = sum(req.values())
    assert n == int(res.nodes()["hits"].sum() + res.nodes()["misses"].sum())
    hk = res.hot_keys(top=20)
    assert len(hk) == 20
    assert hk["key"].tolist()[:5] == [k for k, _ in req.most_common(5)]
    for r in hk.itertuples():
        assert 0 <= r.requests - req[r.key] <= r.requests_error <= n / 1000
        assert 0 <= r.misses - miss[r.key] <= r.misses_error
    by_miss = res.hot_keys(by="misses", top=5)
    assert by_miss["misses"].is_monotonic_decreasing
    assert by_miss["key"].iloc[0] == miss.most_common(1)[0][0]
    # per node: the hottest key's home node serves it, and nobody else does
    top = hk.iloc[0]
    node = top["home"]
    assert top["owners"] == node and not top["owner_changed"]
    i = int(node.split("-")[1]) - 1
    per = res.hot_keys(node=node, top=3)
    assert per["key"].iloc[0] == top["key"]
    assert per["requests"].iloc[0] - (exact["hit"][i] + exact["miss"][i])[top["key"]] >= 0


def test_hot_keys_do_not_depend_on_the_snapshot_interval():
    cfg = cachesim.load_scenario("node_failure").with_overrides(
        {"duration_s": 22.0, "warmup_s": 1.0, "workload.rate_rps": 1000.0}
    )  # kill and restart
    frames = [cachesim.simulate(cfg.with_overrides({"snapshot_interval_s": dt})) for dt in (0.05, 0.25)]
    for by in ("requests", "misses"):
        a, b = (r.hot_keys(by=by) for r in frames)
        assert a.equals(b)
    moved = [r.moved_misses()["misses"].sum() for r in frames]
    assert moved[0] == moved[1] > 0


def test_node_loss_moves_keys_and_marks_owner_changes():
    res = cachesim.simulate(
        cachesim.load_scenario("node_failure").with_overrides({"duration_s": 16.0, "warmup_s": 1.0})
    )
    moved = res.moved_misses()
    assert len(moved) and set(moved["home"]) == {"node-2"}  # only node-2's keys moved
    assert "node-2" not in set(moved["node"])
    assert moved["t"].min() > 10.0  # after the kill (and its detection)
    hk = res.hot_keys(top=50)
    changed = hk[hk["owner_changed"]]
    assert len(changed) and set(changed["home"]) == {"node-2"}
    assert all(len(o.split(",")) >= 2 for o in changed["owners"])  # home and an heir


def test_hot_keys_survive_save_and_load(hot_run, tmp_path):
    res, _ = hot_run
    back = cachesim.RunResult.load(res.save(tmp_path / "run"))
    assert back.hot_keys().equals(res.hot_keys())
    assert back.hot_keys(by="misses", node="node-1").equals(res.hot_keys(by="misses", node="node-1"))


@pytest.mark.slow
def test_large_clusters_hold_bounded_sketches_and_buffers():
    assert sizes(4) == (1000, 4096) and sizes(16) == (1000, 4096)
    assert sizes(256) == (64, 256) and sizes(1024) == (64, 256)
    cfg = cachesim.load_scenario("baseline").with_overrides(
        {
            "cluster.nodes": 256,
            "workload.keys": 1_000_000,
            "workload.rate_rps": 20_000.0,
            "duration_s": 2.0,
            "warmup_s": 0.0,
            "cluster.routing": "random",
        }
    )
    sim = cachesim.Simulation(cfg)
    sim.run()
    rec = sim.obs.hot
    assert max(len(s.keys) for s in rec.hit_sketch + rec.miss_sketch) <= 64
    assert max(len(b) for b in rec.hits + rec.misses) < 256 + 20_000 * cfg.snapshot_interval_s
    hk = sim.result().hot_keys(top=5)
    n = int(sim.result().nodes()[["hits", "misses"]].sum().sum())
    assert (hk["requests_error"] <= n / 64).all()
    assert not hk["owner_changed"].any() and (hk["home"] == "").all()  # random routing: no home


def test_hot_keys_survive_the_apps_zip_and_a_bad_one_is_refused(hot_run):
    import io
    import zipfile

    from cachesim.archive import ArchiveError, run_from_zip, run_to_zip

    res, _ = hot_run
    data = run_to_zip(res)
    back = run_from_zip(data, max_bytes=len(data) + 1)
    assert back.hot_keys().equals(res.hot_keys())
    assert back.hot_keys(node="node-2", by="misses").equals(res.hot_keys(node="node-2", by="misses"))
    assert back.database_timeseries().equals(res.database_timeseries())
    # a sketch whose error exceeds its count is not a sketch
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "hot_keys_sketch.csv":
                lines = body.decode().splitlines()
                node, kind, key, count, _err = lines[1].split(",")
                lines[1] = ",".join([node, kind, key, count, str(int(count) + 1)])
                body = ("\n".join(lines) + "\n").encode()
            zf.writestr(info.filename, body)
    with pytest.raises(ArchiveError, match="hot-key files do not fit the run"):
        run_from_zip(out.getvalue(), max_bytes=10 * len(data))
