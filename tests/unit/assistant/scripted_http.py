"""A local HTTP server that answers Groq's chat endpoint from a script of replies (the last one
repeats), for the Groq client's unit tests. 127.0.0.1 on a free port; never the network."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    close: bool = False  # close the connection after the reply (Connection: close)
    drop: bool = False  # close it after the reply without saying so (an idle keep-alive timeout)


@dataclass
class Server:
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    connections: set[int] = field(default_factory=set)  # client ports seen: one per connection


def completion(content: str, *, prompt: int = 100, completion: int = 20) -> dict[str, Any]:
    return {"id": "chatcmpl-test", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def scripted(*replies: Reply) -> Iterator[Server]:
    server_state = Server()
    script = list(replies)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Groq

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            server_state.requests.append({"path": self.path, "body": json.loads(raw),
                                          "headers": {k.lower(): v for k, v in self.headers.items()}})
            server_state.connections.add(self.client_address[1])
            reply = script.pop(0) if len(script) > 1 else script[0]
            if reply.delay_s:
                time.sleep(reply.delay_s)
            data = json.dumps(reply.body).encode()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if reply.close:
                    self.send_header("Connection", "close")
                self.close_connection = reply.close or reply.drop
                self.end_headers()
                self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server_state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        httpd.shutdown()
        httpd.server_close()
