"""A local fake of Groq's OpenAI-compatible chat endpoint (POST /openai/v1/chat/completions),
on 127.0.0.1 and a free port, keeping connections alive as Groq does (HTTP/1.1). Never a call to
groq.com. It answers by `mode` and `reply` (the integration tests), or from `script`, a list of
exact HTTP replies (the Groq client's unit tests: statuses, headers, delays, closed connections)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[dict[str, Any]], str]


def cite_source_containing(needle: str, sentence: str) -> Reply:
    """A 'model' that reads its prompt: it cites the source whose text contains `needle`."""
    def reply(request: dict[str, Any]) -> str:
        user = request["messages"][-1]["content"]
        for m in re.finditer(r'<source n="(\d+)"[^>]*>(.*?)</source>', user, re.S):
            if needle in m.group(2):
                return f"{sentence} [{m.group(1)}]"
        return "NOT_COVERED"
    return reply


def completion(content: str, *, model: str | None = "m", prompt: int = 100, completion: int = 20) -> dict[str, Any]:
    """A chat completion response body, as Groq sends it."""
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}}


@dataclass(frozen=True)
class Scripted:
    """One exact reply of `FakeGroq.script`."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    close: bool = False  # close the connection after the reply, saying so (Connection: close)
    drop: bool = False  # close it without saying so (as an idle keep-alive timeout does)


@dataclass
class FakeGroq:
    url: str = ""
    mode: str = "answer"           # answer | 429 | slow | 500
    reply: Reply = field(default=lambda req: "NOT_COVERED")
    delay_s: float = 0.0
    #: when set, each request gets the next reply (the last one repeats); `mode` and `reply` are unused
    script: list[Scripted] = field(default_factory=list)
    #: the request bodies, with `_authorization` and `_path` added
    requests: list[dict[str, Any]] = field(default_factory=list)
    connections: set[int] = field(default_factory=set)  # client ports: one per connection


def free_port() -> int:
    """A local port nothing listens on (for an unreachable endpoint)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def fake_groq(*script: Scripted) -> Iterator[FakeGroq]:
    state = FakeGroq(script=list(script))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Groq

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None,
                  close: bool = False) -> None:
            raw = json.dumps(body).encode()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if close:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(raw)

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            if self.path != "/openai/v1/chat/completions":
                self._json(404, {"error": {"message": f"unknown path {self.path}"}})
                return
            request["_authorization"] = self.headers.get("Authorization")
            request["_path"] = self.path
            state.requests.append(request)
            state.connections.add(self.client_address[1])
            if state.script:
                scripted = state.script.pop(0) if len(state.script) > 1 else state.script[0]
                time.sleep(scripted.delay_s)
                self.close_connection = scripted.close or scripted.drop
                self._json(scripted.status, scripted.body, scripted.headers, close=scripted.close)
                return
            if state.mode == "429":
                self._json(429, {"error": {"message": "Rate limit reached", "type": "tokens",
                                           "code": "rate_limit_exceeded"}}, {"retry-after": "7"})
                return
            if state.mode == "500":
                self._json(500, {"error": {"message": "internal"}})
                return
            if state.mode == "slow":
                time.sleep(state.delay_s)
            self._json(200, completion(state.reply(request), model=request.get("model")))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
