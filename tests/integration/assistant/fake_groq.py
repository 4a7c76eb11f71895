"""A local fake of Groq's OpenAI-compatible chat endpoint (POST /openai/v1/chat/completions),
on 127.0.0.1 and a free port. Never a call to groq.com."""

from __future__ import annotations

import json
import re
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


@dataclass
class FakeGroq:
    url: str = ""
    mode: str = "answer"           # answer | 429 | slow | 500
    reply: Reply = field(default=lambda req: "NOT_COVERED")
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def fake_groq() -> Iterator[FakeGroq]:
    state = FakeGroq()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(raw)

        def do_POST(self) -> None:
            if self.path != "/openai/v1/chat/completions":
                self._json(404, {"error": {"message": f"unknown path {self.path}"}})
                return
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            request["_authorization"] = self.headers.get("Authorization")
            state.requests.append(request)
            if state.mode == "429":
                self._json(429, {"error": {"message": "Rate limit reached", "type": "tokens",
                                           "code": "rate_limit_exceeded"}}, {"retry-after": "7"})
                return
            if state.mode == "500":
                self._json(500, {"error": {"message": "internal"}})
                return
            if state.mode == "slow":
                time.sleep(state.delay_s)
            content = state.reply(request)
            self._json(200, {
                "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                "model": request.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
            })

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
