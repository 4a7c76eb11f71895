"""The chaos run's HTTP client: the API through the local gateway, and presigned POST uploads.

A client retry is legitimate and counted: on a connection error or a 5xx the same request is sent
again (POSTs carry an Idempotency-Key, so a retried POST whose first attempt committed replays the
first answer instead of acting twice)."""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any


class GaveUp(Exception):
    pass


class Client:
    def __init__(self, base: str, *, retry_for_s: float = 180.0) -> None:
        self.base = base
        self.retry_for_s = retry_for_s
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()  # "api", "upload"
        self.retries: Counter[str] = Counter()  # why: "api 503", "api connection", "upload connection", ...

    def _count(self, counter: Counter[str], key: str) -> None:
        with self._lock:
            counter[key] += 1

    def _send(self, kind: str, req_factory: Any) -> tuple[int, bytes]:
        deadline = time.monotonic() + self.retry_for_s
        delay = 0.2
        self._count(self.calls, kind)
        while True:
            try:
                with urllib.request.urlopen(req_factory(), timeout=60) as resp:
                    status, raw = resp.status, resp.read()
            except urllib.error.HTTPError as exc:
                status, raw = exc.code, exc.read()
            except (OSError, urllib.error.URLError) as exc:
                status, raw = 0, str(exc).encode()
            if status and status < 500:
                return status, raw
            why = f"{kind} {status}" if status else f"{kind} connection"
            if time.monotonic() > deadline:
                raise GaveUp(f"{why}: gave up after {self.retry_for_s:.0f}s: {raw[:300]!r}")
            self._count(self.retries, why)
            time.sleep(delay)
            delay = min(delay * 2, 3.0)

    def call(self, method: str, path: str, token: str | None = None, body: Any = None,
             expect: tuple[int, ...] = (200, 201)) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        if method == "POST":
            headers["idempotency-key"] = secrets.token_hex(16)  # the same key on every retry
        status, raw = self._send("api", lambda: urllib.request.Request(self.base + path, data=data, method=method,
                                                                       headers=headers))
        payload = json.loads(raw) if raw else None
        if status not in expect:
            raise AssertionError(f"{method} {path}: {status} {payload}")
        return payload

    def upload(self, url: str, fields: dict[str, str], filename: str, content: bytes, content_type: str) -> None:
        """The browser's presigned POST (multipart/form-data), retried while S3 is unreachable."""
        boundary = "----chaos" + secrets.token_hex(8)
        parts = []
        for k, v in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                     f"Content-Type: {content_type}\r\n\r\n".encode() + content + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        body = b"".join(parts)
        status, raw = self._send("upload", lambda: urllib.request.Request(
            url, data=body, method="POST", headers={"content-type": f"multipart/form-data; boundary={boundary}"}))
        if status not in (200, 201, 204):
            raise AssertionError(f"upload to {url}: {status} {raw[:300]!r}")
