"""The real ChatOpenAI client against a local OpenAI-compatible server on 127.0.0.1.

The server implements POST /v1/chat/completions: a tool call, then a streamed (SSE)
answer; or a 401, 429 or 500; or a slow answer (for the timeout). A closed port gives
"connection refused". Each failure must become its one clear message, without the key.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

import cachesim
from cachesim.analyst import LLM, Answer, LLMSettings, answer_events

KEY = "sk-test-DO-NOT-LEAK-0123456789abcdef"


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-local",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "local-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


class Handler(BaseHTTPRequestHandler):
    server: LocalOpenAI

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("retry-after", "0")
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        srv = self.server
        srv.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._json(404, {"error": {"message": "not found"}})
        mode = srv.mode
        if mode == "401":
            return self._json(
                401,
                {
                    "error": {
                        "message": f"Incorrect API key provided: {KEY}.",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
            )
        if mode == "429":
            return self._json(
                429, {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
            )
        if mode == "500":
            return self._json(500, {"error": {"message": "boom", "type": "server_error"}})
        if mode == "slow":
            time.sleep(srv.delay_s)
        if not body.get("stream"):
            return self._json(
                200,
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "local-model",
                    "choices": [
                        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}
                    ],
                },
            )
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        has_tool_result = any(m.get("role") == "tool" for m in body.get("messages", []))
        if not has_tool_result:
            args = json.dumps({"kind": "kill"})
            self.wfile.write(
                _chunk(
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "search_events", "arguments": ""},
                            }
                        ],
                    }
                )
            )
            for part in (args[:6], args[6:]):
                self.wfile.write(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}))
            self.wfile.write(_chunk({}, "tool_calls"))
        else:
            words = ["Chaos ", "killed ", "node-2 ", "at ", "[t=10.0-11.8 s]."]
            self.wfile.write(_chunk({"role": "assistant", "content": ""}))
            for w in words:
                self.wfile.write(_chunk({"content": w}))
                self.wfile.flush()
            self.wfile.write(_chunk({}, "stop"))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class LocalOpenAI(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode = "agent"
        self.delay_s = 3.0
        self.requests: list[dict[str, Any]] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client gave up (the timeout test): not a failure of the server

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalOpenAI]:
    srv = LocalOpenAI()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def runs(node_failure_run: cachesim.RunResult) -> dict[str, cachesim.RunResult]:
    return {"run-1 · node_failure": node_failure_run}


def _ask(runs: dict, settings: LLMSettings) -> tuple[Answer, list[str]]:
    answer = Answer(LLM)
    pieces = list(
        answer.text_stream(
            answer_events("run-1 · node_failure", runs, "What did chaos do?", mode=LLM, settings=settings)
        )
    )
    return answer, pieces


def _settings(base_url: str, **kw: Any) -> LLMSettings:
    return LLMSettings(
        model="local-model",
        api_key=SecretStr(KEY),
        base_url=base_url,
        timeout_s=kw.pop("timeout_s", 5.0),
        max_retries=0,
        **kw,
    )


def test_tool_call_then_streamed_answer(server: LocalOpenAI, runs: dict, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the openai/httpx/langchain debug logs, too
    server.mode, server.requests[:] = "agent", []
    answer, pieces = _ask(runs, _settings(server.base_url))
    assert answer.error is None
    assert answer.text == "Chaos killed node-2 at [t=10.0-11.8 s]."
    assert len(pieces) >= 5  # streamed word by word, not in one piece
    assert [s["name"] for s in answer.steps] == ["search_events"]
    assert answer.steps[0]["args"] == {"kind": "kill"}
    result = json.loads(answer.steps[0]["result"])
    assert [e["target"] for e in result["events"]] == ["node-2"]
    assert answer.record()["ranges"] == [(10.0, 11.8)]
    # what went over the wire: two streamed requests, the tools, the key in the header only
    assert len(server.requests) == 2
    first, second = (r["body"] for r in server.requests)
    assert first["stream"] is True and first["model"] == "local-model"
    assert {t["function"]["name"] for t in first["tools"]} >= {"get_summary", "search_events"}
    assert first["messages"][0]["role"] == "system"
    assert "never instructions" in first["messages"][0]["content"]
    assert second["messages"][-1]["role"] == "tool"
    assert server.requests[0]["auth"] == f"Bearer {KEY}"
    assert all(KEY not in json.dumps(r["body"]) for r in server.requests)
    assert "chat/completions" in caplog.text and KEY not in caplog.text


@pytest.mark.parametrize(
    ("mode", "kind", "words"),
    [
        ("401", "auth", "rejected the API key (HTTP 401)"),
        ("429", "rate_limit", "rate-limiting requests (HTTP 429)"),
        ("500", "server", "internal error (HTTP 500)"),
    ],
)
def test_http_errors_become_one_message(
    server: LocalOpenAI, runs: dict, mode: str, kind: str, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.mode = mode
    answer, pieces = _ask(runs, _settings(server.base_url))
    assert pieces == []
    assert answer.error is not None and answer.error.kind == kind
    assert words in answer.error.message
    assert "127.0.0.1" not in answer.error.message  # the host is not shown to visitors
    assert answer.error.message.startswith("The LLM server")
    assert KEY not in answer.error.message and KEY not in json.dumps(answer.record())
    assert KEY not in caplog.text  # the 401 body echoes the key: it is not logged either


def test_timeout(server: LocalOpenAI, runs: dict) -> None:
    server.mode, server.delay_s = "slow", 20.0  # far longer than any busy machine adds to 0.5 s
    t0 = time.monotonic()
    answer, _ = _ask(runs, _settings(server.base_url, timeout_s=0.5))
    assert time.monotonic() - t0 < 10.0  # the client gave up: it did not wait for the server
    assert answer.error is not None and answer.error.kind == "timeout"
    assert "did not answer within 0.5 s" in answer.error.message


def test_connection_refused(runs: dict) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    answer, _ = _ask(runs, _settings(f"http://127.0.0.1:{port}/v1"))
    assert answer.error is not None and answer.error.kind == "connection"
    assert answer.error.message.startswith("Could not reach the LLM server")
    assert KEY not in answer.error.message
