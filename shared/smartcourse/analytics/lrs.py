"""Pushing xAPI statements to an LRS: the rules (plain Python) and the HTTP adapter (urllib).

An LRS takes a POST of several statements to `<endpoint>/statements` as a whole: if it refuses one it
stores none (xAPI 1.0.3, "Statement Resource"). So `deliver` sends a batch, and when the LRS refuses
it for a reason that belongs to the statements (400, 409, 413, 422, ...) splits it in halves until the
statement at fault is alone: alone, a 409 means the LRS already holds a statement with that id
(ours are deterministic: a retry or an earlier push), anything else parks it with the LRS's status
and reason. A failure of the endpoint rather than of a statement (no answer, a timeout, 5xx, 429,
408, a redirect, 401/403/404/405/407: the URL or the credentials are wrong) stops the batch: what
was settled before it stays settled and the rest is tried again later with backoff (`backoff_s`).
Nothing is dropped silently: every statement ends accepted, already there, or parked.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from smartcourse.analytics.xapi import VERSION

Verdict = Literal["accepted", "duplicate", "rejected", "retry"]

#: statuses that say the endpoint failed, not the statements: tried again later, never parked
ENDPOINT_FAILURES = frozenset({401, 403, 404, 405, 407, 408, 425, 429})
REASON_MAX = 500


@dataclass(frozen=True, slots=True)
class Answer:
    """The LRS's answer to one POST: its status (None when none came: refused connection, timeout)
    and its reason (the body's message, or the error)."""

    status: int | None
    reason: str = ""


class Lrs(Protocol):
    endpoint: str

    def post(self, statements: Sequence[dict[str, Any]]) -> Answer: ...


def verdict(status: int | None) -> Verdict:
    if status is None or status >= 500 or status < 200 or 300 <= status < 400 or status in ENDPOINT_FAILURES:
        return "retry"
    if status < 300:
        return "accepted"
    if status == 409:
        return "duplicate"
    return "rejected"


@dataclass
class Outcome:
    """What one batch came to. `settled`: how many statements from the start of the batch are done
    (accepted, duplicate or parked): the cursor may move past them. `failure`: why the rest was not
    sent (the endpoint failed), None when the whole batch is settled or time ran out."""

    accepted: int = 0
    duplicates: int = 0
    parked: list[tuple[str, int, str]] = field(default_factory=list)  # (statement id, status, reason)
    settled: int = 0
    failure: str | None = None
    failure_status: int | None = None
    out_of_time: bool = False
    requests: int = 0


def deliver(
    batch: Sequence[dict[str, Any]],
    post: Callable[[Sequence[dict[str, Any]]], Answer],
    time_left: Callable[[], bool] = lambda: True,
) -> Outcome:
    """Send `batch` (in order) through `post`, splitting refused batches as described above.
    `time_left()` is asked before each request; False stops (nothing failed)."""
    out = Outcome()
    _deliver(list(batch), post, time_left, out)
    return out


def _deliver(
    batch: list[dict[str, Any]],
    post: Callable[[Sequence[dict[str, Any]]], Answer],
    time_left: Callable[[], bool],
    out: Outcome,
) -> bool:
    if not batch:
        return True
    if not time_left():
        out.out_of_time = True
        return False
    answer = post(batch)
    out.requests += 1
    v = verdict(answer.status)
    if v == "retry":
        out.failure = f"{answer.status or 'no answer'}: {answer.reason}".strip().rstrip(":")[:REASON_MAX]
        out.failure_status = answer.status
        return False
    if v == "accepted":
        out.accepted += len(batch)
        out.settled += len(batch)
        return True
    if len(batch) > 1:  # refused as a whole: find the statement(s) at fault
        mid = len(batch) // 2
        return _deliver(batch[:mid], post, time_left, out) and _deliver(batch[mid:], post, time_left, out)
    if v == "duplicate":
        out.duplicates += 1
    else:
        assert answer.status is not None
        out.parked.append((str(batch[0]["id"]), answer.status, answer.reason[:REASON_MAX] or "(no reason given)"))
    out.settled += 1
    return True


def backoff_s(failures: int, base_s: float, max_s: float) -> float:
    """Seconds to wait after the `failures`-th failure in a row: base, 2 x base, 4 x base, ... capped."""
    if failures <= 0:
        return 0.0
    return float(min(max_s, base_s * 2 ** min(failures - 1, 30)))


def basic_credentials(raw: str) -> str:
    """A credentials secret's text -> "key:secret": the text itself, or JSON {"key", "secret"} (or
    {"username", "password"})."""
    text = raw.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return ""
        if isinstance(data, dict):
            for k, s in (("key", "secret"), ("username", "password")):
                if isinstance(data.get(k), str) and isinstance(data.get(s), str):
                    return f"{data[k]}:{data[s]}"
        return ""
    return text if ":" in text else ""


def statements_url(base: str) -> str:
    return f"{base.rstrip('/')}/statements"


def _reason(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for k in ("message", "error", "errorMessage", "reason"):
            if isinstance(data.get(k), str) and data[k].strip():
                text = data[k]
                break
    return " ".join(text.split())[:REASON_MAX]


def _opener() -> Any:
    """urllib's opener without redirects: a redirect is an answer (an endpoint failure), not
    something to follow (urllib would turn the POST into a GET, and a GET of /statements answers 200
    without storing anything)."""
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return urllib.request.build_opener(NoRedirect)


class HttpLrs:
    """POST <endpoint> with the statements as a JSON array, `X-Experience-API-Version: 1.0.3` and
    HTTP Basic credentials when given (urllib, loaded on the first push: not in the cold start)."""

    def __init__(self, endpoint: str, credentials: str | None, timeout_s: float) -> None:
        self.endpoint = endpoint
        self._timeout_s = timeout_s
        self._headers = {
            "Content-Type": "application/json",
            "X-Experience-API-Version": VERSION,
            "User-Agent": "SmartCourse-xAPI/1",
        }
        if credentials:
            self._headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        self._open: Any = None

    def __repr__(self) -> str:  # never the credentials
        return f"HttpLrs({self.endpoint!r})"

    def post(self, statements: Sequence[dict[str, Any]]) -> Answer:
        import urllib.error
        import urllib.request

        if self._open is None:
            self._open = _opener().open
        body = json.dumps(list(statements), separators=(",", ":")).encode()
        # the endpoint is http(s) only: XAPI_LRS_URL's pattern (and https in template.yaml's XapiLrsUrl)
        request = urllib.request.Request(self.endpoint, data=body, headers=self._headers, method="POST")  # noqa: S310
        try:
            with self._open(request, timeout=self._timeout_s) as response:
                response.read()
                return Answer(int(response.status))
        except urllib.error.HTTPError as exc:
            try:
                body = exc.read() or b""
            except OSError:
                body = b""
            return Answer(int(exc.code), _reason(body) or str(exc.reason))
        except (urllib.error.URLError, TimeoutError, OSError) as exc:  # no answer: refused, reset, timed out
            return Answer(None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"[:REASON_MAX])
