"""The analyst's question bank: the offline analyst's score, checkers that can fail, the
eval-analyst command against a local OpenAI-compatible server, and the hot_key
scenario's description against its run."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

import cachesim
from cachesim.analyst.bank import CASES, RUN_OVERRIDES, bank_runs, evaluate, offline_answerer
from cachesim.cli import main
from tests.analyst.test_analyst_openai import KEY, Handler, LocalOpenAI, _chunk

pytestmark = pytest.mark.slow  # six scenario runs and two what-ifs: minutes


@pytest.fixture(scope="module")
def runs() -> dict[str, cachesim.RunResult]:
    return bank_runs()


def test_the_bank_covers_every_scenario_and_the_asked_questions() -> None:
    assert len(CASES) >= 40
    assert {c.scenario for c in CASES} == set(RUN_OVERRIDES) == set(cachesim.list_scenarios())
    questions = {c.question for c in CASES}
    assert {"Why did the hit ratio drop?", "Which keys are hot?", "What would coalescing change?"} <= questions


def test_offline_analyst_scores_at_least_90_percent(runs) -> None:
    score = evaluate(offline_answerer(), runs)
    assert len(score.results) == len(CASES)
    assert score.ratio >= 0.9, "\n".join(score.lines())


def test_checkers_fail_wrong_answers(runs) -> None:
    """No checker passes an answer without the run's numbers, or another run's answer."""
    blank = evaluate(lambda s, r, q: "I could not find that in the data.", runs)
    assert blank.passed == 0, "\n".join(blank.lines())
    # the same questions answered from another scenario's run: almost all must fail
    swap = {
        "baseline": "write_heavy",
        "write_heavy": "baseline",
        "node_failure": "network_partition",
        "network_partition": "node_failure",
        "hot_key": "thundering_herd",
        "thundering_herd": "hot_key",
        "lease_herd": "baseline",
    }
    off = offline_answerer()
    wrong = evaluate(lambda s, r, q: off(swap[s], runs[swap[s]], q), runs)
    assert wrong.ratio <= 0.25, "\n".join(wrong.lines())


def test_hot_key_description_matches_the_run() -> None:
    """Every count the description quotes is the shipped scenario's (seed 1)."""
    res = cachesim.simulate(cachesim.load_scenario("hot_key"))
    text = " ".join(cachesim.scenario_description("hot_key").split())
    nd = res.nodes().set_index("node")
    lookups = nd["hits"] + nd["misses"]
    hk = res.hot_keys(top=3).set_index("key")
    quoted = {int(x.replace(",", "")) for x in re.findall(r"\d{1,3}(?:,\d{3})+", text)}
    expect = {int(hk.at[0, "requests"]), int(lookups.sum()), *map(int, lookups)}
    assert quoted - expect == {100_000} and expect <= quoted  # 100,000 keys: the key space
    assert "key 0" in text and f"on {hk.at[0, 'home']}" in text
    assert f"{hk.at[0, 'home']}, which does {int(lookups[hk.at[0, 'home']]):,}" in text
    assert lookups.idxmax() == hk.at[0, "home"]
    share = round(100 * res.hot_keys(node=hk.at[0, "home"], top=1)["requests"].iloc[0] / lookups[hk.at[0, "home"]])
    assert f"{share}% of them key 0" in text


# -- eval-analyst against a local OpenAI-compatible server ----------------------------


class BankHandler(Handler):
    """Answers each question with the offline analyst's text for the run named in the
    system prompt (so the command's score can be compared with the offline one)."""

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        srv = self.server
        srv.requests.append({"auth": self.headers.get("Authorization"), "body": body})
        msgs = body.get("messages", [])
        scenario = re.search(r'"scenario":"([a-z_]+)"', msgs[0]["content"]).group(1)
        question = msgs[-1]["content"]
        text = srv.answer(scenario, srv.runs[scenario], question)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(_chunk({"role": "assistant", "content": ""}))
        for i in range(0, len(text), 400):
            self.wfile.write(_chunk({"content": text[i : i + 400]}))
        self.wfile.write(_chunk({}, "stop"))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class BankServer(LocalOpenAI):
    def __init__(self, runs: dict[str, Any]) -> None:
        ThreadingHTTPServer.__init__(self, ("127.0.0.1", 0), BankHandler)
        self.requests: list[dict[str, Any]] = []
        self.runs = runs
        self.answer = offline_answerer()


@pytest.fixture
def server(runs) -> Iterator[BankServer]:
    srv = BankServer(runs)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_eval_analyst_command_scores_a_served_model(server: BankServer, runs, capsys) -> None:
    status = main(
        [
            "eval-analyst",
            "--base-url",
            server.base_url,
            "--model",
            "bank-model",
            "--api-key",
            KEY,
            "--scenario",
            "hot_key",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    n = sum(1 for c in CASES if c.scenario == "hot_key")
    offline = evaluate(offline_answerer(), {"hot_key": runs["hot_key"]})
    assert out.strip().splitlines()[-1] == f"score: {offline.passed}/{n} ({offline.passed / n:.0%})"
    assert out.count("PASS [") == offline.passed and "[hot_key] Which keys are hot?" in out
    assert len(server.requests) == n  # one streamed request per question, with the key
    assert all(r["body"]["model"] == "bank-model" and r["body"]["stream"] for r in server.requests)
    assert server.requests[0]["auth"] == f"Bearer {KEY}"
    assert KEY not in out


def test_eval_analyst_refuses_an_unknown_scenario(capsys) -> None:
    assert main(["eval-analyst", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--scenario", "nope"]) == 2
    assert "--scenario: unknown 'nope'" in capsys.readouterr().err


def test_an_unreachable_server_scores_zero(runs, capsys, monkeypatch) -> None:
    monkeypatch.setattr("cachesim.analyst.bank.bank_runs", lambda names: {n: runs[n] for n in names})
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert (
        main(
            [
                "eval-analyst",
                "--base-url",
                f"http://127.0.0.1:{port}/v1",
                "--model",
                "m",
                "--scenario",
                "baseline",
                "--timeout",
                "2",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    n = sum(1 for c in CASES if c.scenario == "baseline")
    assert out.strip().splitlines()[-1] == f"score: 0/{n} (0%)"
