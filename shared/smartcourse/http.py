"""The request layer of every HTTP entrypoint (the Chalice API and `proxy_routes`, the router of
the assistant and analytics), in one place, so the same mistake gets the same answer from all:
request bodies (size, strict JSON, an object), path ids, errors -> (status, JSON body, headers),
CORS headers."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from smartcourse.errors import (
    AppError,
    BadRequest,
    ConfigurationError,
    FieldProblem,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from smartcourse.settings import CommonSettings

# Response headers the web app's scripts may read (CORS hides all but the safelisted ones).
CORS_EXPOSE_HEADERS = "X-Correlation-Id,Idempotent-Replayed,Retry-After"


def validation_error(exc: ValidationError) -> ValidationFailed:
    details = []
    for err in exc.errors()[:50]:
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        details.append(FieldProblem(loc, err["msg"]))
    return ValidationFailed("the request is not valid", details=details)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _JsonRejected(f"duplicate key {key!r}", key)
        obj[key] = value
    return obj


class _JsonRejected(ValueError):
    def __init__(self, problem: str, field: str = "body") -> None:
        super().__init__(problem)
        self.problem, self.field = problem, field


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _JsonRejected(f"number {text[:40]} is out of range")
    return value


def _constant(name: str) -> Any:
    raise _JsonRejected(f"{name} is not JSON")


def parse_json(raw: bytes | str) -> Any:
    """Strict JSON for request bodies: UTF-8, no duplicate keys (``{"a": 1, "a": 2}`` is refused
    rather than silently keeping the last), no NaN/Infinity, no number that overflows a float or has
    more than 4300 digits, nesting bounded by the interpreter's recursion limit. Anything else is a
    `BadRequest` naming the problem (never a 500)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_finite, parse_constant=_constant)
    except UnicodeDecodeError as exc:
        problem, field = f"not UTF-8: byte {exc.start}", "body"
    except _JsonRejected as exc:
        problem, field = exc.problem, exc.field
    except RecursionError:
        problem, field = "nested too deeply", "body"
    except json.JSONDecodeError as exc:
        problem, field = f"not JSON: {exc.msg} at position {exc.pos}", "body"
    except ValueError as exc:  # e.g. an integer with more digits than int() accepts
        problem, field = f"not acceptable JSON: {exc}"[:200], "body"
    raise BadRequest(f"the request body is not valid JSON: {problem}", details=[FieldProblem(field, problem)])


def json_object(raw: bytes | str | None, *, max_bytes: int) -> dict[str, Any]:
    """A request body as a JSON object: at most `max_bytes` (413 naming the limit), strict JSON
    (`parse_json`), an object (400). An empty body is the empty object: the model's validation then
    names the fields it requires."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else (raw or b"")
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the request body exceeds {max_bytes} bytes",
                              details=[FieldProblem("body", f"at most {max_bytes} bytes")])
    if not data.strip():
        return {}
    parsed = parse_json(data)
    if not isinstance(parsed, dict):
        raise BadRequest("the request body must be a JSON object", details=[FieldProblem("body", "not an object")])
    return parsed


def path_id(value: str | None, what: str) -> uuid.UUID:
    """An id from the path. Anything that is not a UUID cannot name an existing thing: 404, as an
    unknown id is (the same answer from every function)."""
    try:
        return uuid.UUID(value or "")
    except ValueError:
        raise NotFound(f"{what} not found") from None


def error_headers(exc: Exception) -> dict[str, str]:
    """Headers an error response carries: Retry-After (seconds) when the error knows when to retry
    (rate limits, a rate-limited or unreachable dependency)."""
    if isinstance(exc, AppError) and "retry_after_s" in exc.extra:
        return {"Retry-After": str(exc.extra["retry_after_s"])}
    return {}


def error_response(exc: Exception) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) for any exception; unknown ones become an opaque 500."""
    if isinstance(exc, ValidationError):
        exc = validation_error(exc)
    if isinstance(exc, AppError):
        return exc.status, exc.to_body()
    return 500, {"error": {"code": "internal_error", "message": "an internal error occurred"}}


def cors_headers(allow_origin: str) -> dict[str, str]:
    """Headers every API response carries so a browser on the web app's origin can read it (API
    Gateway answers the preflight itself; a Lambda proxy response must carry its own). For a named
    origin, credentialed requests too (the web app's /auth calls carry the refresh cookie);
    browsers never allow credentials with "*", so that one does not claim it."""
    headers = {"Access-Control-Allow-Origin": allow_origin, "Access-Control-Expose-Headers": CORS_EXPOSE_HEADERS}
    if allow_origin != "*":
        headers["Access-Control-Allow-Credentials"] = "true"
        headers["Vary"] = "Origin"
    return headers


def cors_headers_from(settings: Callable[[], CommonSettings]) -> dict[str, str]:
    """`cors_headers` for the function's settings (CORS_ALLOW_ORIGIN). None when the settings cannot
    be read: that invocation already fails with a 500 naming the setting in the log."""
    try:
        return cors_headers(settings().cors_allow_origin)
    except ConfigurationError:
        return {}
