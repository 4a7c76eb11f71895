"""Groq's chat completions (its OpenAI-compatible endpoint) over one HTTPS connection: standard
library only (adapter: HTTP).

Why not langchain-groq: importing it and making its client took about 550 ms of the assistant's
cold start, for one POST (docs/decisions/0007-groq-over-http.md). What it did for us is here:
timeouts, retries with backoff (and Groq's `retry-after`), and failures as typed exceptions.

- `POST {base_url}/openai/v1/chat/completions` with `Authorization: Bearer <key>`, JSON body
  `{model, messages, temperature, max_tokens}`; the answer is `choices[0].message.content`, the token
  counts `usage.prompt_tokens` / `usage.completion_tokens`.
- `timeout_s` bounds connecting and each read; a request is tried `1 + max_retries` times when the
  failure may pass (connection error, timeout, 408, 409, 429, 5xx), waiting `retry-after` when Groq
  sends one, else 0.5 s doubling (at most 4 s), with jitter. A 429 whose `retry-after` is longer
  than `MAX_RETRY_WAIT_S` is not waited for: a learner should not wait on a rate limit inside one
  request, so it surfaces at once as `RateLimited` with the wait (the API turns it into 503 with
  Retry-After).
- One connection per client, reused (keep-alive) and made again after any failure; a lock makes
  a client safe to share between threads (one request at a time).
"""

from __future__ import annotations

import http.client
import json
import random
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_BASE_URL = "https://api.groq.com"
CHAT_PATH = "/openai/v1/chat/completions"
#: A longer `retry-after` on a 429 is reported, not waited for (see the module docstring).
MAX_RETRY_WAIT_S = 2.0
#: What a kept-alive connection the server has closed raises on its next request.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
_RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
_ROLES = frozenset({"system", "user", "assistant"})


class GroqError(Exception):
    """A failed chat completion; the subclass says why."""


class RateLimited(GroqError):
    def __init__(self, message: str, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Timeout(GroqError):
    pass


class Unreachable(GroqError):
    pass


class Rejected(GroqError):
    """401 / 403: the key is wrong or not allowed."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class UpstreamError(GroqError):
    """Any other error status, or a response that is not a chat completion."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Completion:
    content: str
    input_tokens: int
    output_tokens: int

    @property
    def usage(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "total_tokens": self.input_tokens + self.output_tokens}


class GroqClient:
    def __init__(self, *, api_key: str, base_url: str | None = None, timeout_s: float = 12.0,
                 max_retries: int = 1, sleep: Callable[[float], None] = time.sleep) -> None:
        parts = urlsplit(base_url or DEFAULT_BASE_URL)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the Groq base URL must be http(s)://host[:port][/prefix], not {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = parts.path.rstrip("/") + CHAT_PATH
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
                         "Accept": "application/json", "User-Agent": "smartcourse-assistant"}
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self._sleep = sleep
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    # -- one request -------------------------------------------------------------------------
    def complete(self, *, model: str, messages: Sequence[tuple[str, str]], temperature: float,
                 max_tokens: int) -> Completion:
        """The model's answer to `messages` ((role, text) pairs). Raises a `GroqError`."""
        if any(role not in _ROLES for role, _ in messages):
            raise ValueError(f"message roles must be among {sorted(_ROLES)}")
        body = json.dumps({"model": model, "temperature": temperature, "max_tokens": max_tokens,
                           "messages": [{"role": role, "content": text} for role, text in messages]}).encode()
        attempt = 0
        while True:
            try:
                return self._once(body)
            except (Timeout, Unreachable, RateLimited, UpstreamError) as exc:
                wait = self._retry_wait(exc, attempt)
                if wait is None:
                    raise
            attempt += 1
            self._sleep(wait)

    def _retry_wait(self, exc: GroqError, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None to give up with `exc`."""
        if attempt >= self.max_retries:
            return None
        if isinstance(exc, UpstreamError) and exc.status not in _RETRY_STATUSES:
            return None
        if isinstance(exc, RateLimited) and exc.retry_after_s is not None:
            return exc.retry_after_s if exc.retry_after_s <= MAX_RETRY_WAIT_S else None
        return min(4.0, 0.5 * 2 ** attempt) * random.uniform(0.75, 1.0)  # jitter, not a secret

    def _once(self, body: bytes) -> Completion:
        with self._lock:
            reused = self._conn is not None
            try:
                try:
                    status, retry_after, raw = self._exchange(body)
                except _STALE:
                    # the server closed the idle kept-alive connection before reading the request
                    # (Groq's keep-alive timeout): sent once more on a new connection, not a retry
                    if not reused:
                        raise
                    self._close()
                    status, retry_after, raw = self._exchange(body)
            except TimeoutError as exc:
                self._close()
                raise Timeout(f"Groq did not answer within {self.timeout_s:g} s") from exc
            except (OSError, http.client.HTTPException) as exc:
                self._close()
                raise Unreachable(f"Groq could not be reached: {type(exc).__name__}: {exc}") from exc
        return _completion(status, retry_after, raw)

    def _exchange(self, body: bytes) -> tuple[int, str | None, bytes]:
        conn = self._connection()
        conn.request("POST", self._path, body=body, headers=self._headers)
        response = conn.getresponse()
        status, retry_after, raw = response.status, response.getheader("retry-after"), response.read()
        if response.will_close:
            self._close()
        return status, retry_after, raw

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout_s,
                                                         context=ssl.create_default_context())
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout_s)
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._close()


def _completion(status: int, retry_after: str | None, raw: bytes) -> Completion:
    message = _error_message(raw)
    if status == 429:
        raise RateLimited(f"Groq rate limit: {message}", _seconds(retry_after))
    if status in (401, 403):
        raise Rejected(f"Groq refused the key ({status}): {message}", status)
    if status != 200:
        raise UpstreamError(f"Groq answered {status}: {message}", status)
    try:
        data: Any = json.loads(raw)
        content = data["choices"][0]["message"]["content"]
        usage = data.get("usage") or {}
        if not isinstance(content, str):
            raise TypeError("content is not text")
        return Completion(content, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise UpstreamError(f"Groq's answer is not a chat completion: {exc}", status) from None


def _error_message(raw: bytes) -> str:
    try:
        return str(json.loads(raw)["error"]["message"])[:300]
    except (ValueError, TypeError, KeyError):
        return raw[:300].decode("utf-8", "replace")


def _seconds(value: str | None) -> float | None:
    """`retry-after` in seconds (Groq sends a number; an HTTP date is not used by it)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None
