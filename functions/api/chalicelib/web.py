"""Route plumbing shared by every blueprint: typed errors -> JSON responses (via
`smartcourse.http.error_response`), correlation ids, and the container's lazily built deps."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import Any

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib import deps
from smartcourse import xray
from smartcourse.http import cors_headers_from, error_headers, error_response
from smartcourse.observability import (
    child_traceparent,
    correlation_scope,
    logger,
    metrics,
)

JSON = {"Content-Type": "application/json"}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body=json.dumps(body, default=str), status_code=status, headers={**JSON, **(headers or {})})


def request_log(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Chalice http middleware: what the other functions get from Powertools' decorators. The
    Lambda context's keys (function name, request id, cold start) on every log line, one
    "request handled" line per request (method, resource, status, duration; the correlation id is
    added by `route`'s scope), and this invocation's metrics flushed as EMF."""
    started = time.perf_counter()
    context = getattr(event, "lambda_context", None)
    if context is not None and hasattr(context, "function_name"):
        logger.append_keys(function_name=context.function_name,
                           function_request_id=getattr(context, "aws_request_id", None))
    # The request's correlation id (the caller's X-Correlation-Id, else API Gateway's request id) and
    # its span of the caller's W3C trace (`traceparent`), bound for everything the request logs and
    # writes to the outbox; Chalice's own answers (unknown route, 405, 415) carry the id too.
    cid = event.headers.get("x-correlation-id") or (event.context or {}).get("requestId")
    params = event.uri_params or {}
    with correlation_scope(cid, traceparent=child_traceparent(event.headers.get("traceparent"))) as cid, \
            xray.subsegment(f"{event.method} {event.path}", method=event.method, resource=event.path,
                            course_id=params.get("course_id"), enrollment_id=params.get("enrollment_id"),
                            correlation_id=cid) as annotate:
        response = get_response(event)
        annotate(status=response.status_code)
        response.headers.setdefault("X-Correlation-Id", cid)
        logger.info("request handled", extra={"method": event.method, "resource": event.path,
                                              "status": response.status_code,
                                              "duration_ms": round((time.perf_counter() - started) * 1000, 1)})
    if metrics.metric_set:
        metrics.flush_metrics()
    return response


def cors_middleware(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Chalice http middleware: every response (views, typed errors, Chalice's own 404/405/500)
    carries the CORS headers of CORS_ALLOW_ORIGIN."""
    response = get_response(event)
    for name, value in cors_headers_from(deps.settings).items():
        response.headers.setdefault(name, value)
    return response


def route(bp: Blueprint, path: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`bp.route` whose view maps typed errors to JSON. The request's correlation scope, trace and
    X-Correlation-Id come from `request_log`, the app's middleware around every route."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(**params: Any) -> Any:
            try:
                return view(**params)
            except Exception as exc:
                status, body = error_response(exc)
                if status >= 500:
                    logger.exception("request failed")
                return json_response(body, status, error_headers(exc))

        bp.route(path, **kwargs)(wrapped)
        return wrapped

    return decorator


# Chalice answers some requests itself, before any view runs, with {"Code": ..., "Message": ...}:
# a Content-Type the route does not accept (415), a method the resource lacks (405). Those get the
# product's error format too.
_CHALICE_CODES = {415: "unsupported_media_type", 405: "method_not_allowed", 400: "bad_request"}


def chalice_errors_as_json(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """HTTP middleware: Chalice's own error responses rewritten as {"error": {code, message}}."""
    response = get_response(event)
    if response.status_code in _CHALICE_CODES and isinstance(response.body, dict) and "Code" in response.body:
        message = str(response.body.get("Message") or response.body["Code"])
        if response.status_code == 415:
            message = f"{message}; send application/json"
        body: dict[str, Any] = {"code": _CHALICE_CODES[response.status_code], "message": message}
        if response.status_code == 415:
            body["details"] = [{"field": "Content-Type", "problem": "must be application/json"}]
        headers = {k: v for k, v in response.headers.items() if isinstance(v, str) and k.lower() != "content-type"}
        return json_response({"error": body}, response.status_code, headers)
    return response

