"""Route plumbing shared by every blueprint: typed errors -> JSON responses (via
`smartcourse.http.error_response`), correlation ids, and the container's lazily built deps."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from chalice import Blueprint, Response

from smartcourse.http import error_response
from smartcourse.observability import correlation_scope, logger

JSON = {"Content-Type": "application/json"}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body=json.dumps(body, default=str), status_code=status, headers={**JSON, **(headers or {})})


def route(bp: Blueprint, path: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`bp.route` whose view maps typed errors to JSON and runs in a correlation scope."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(**params: Any) -> Any:
            req = bp.current_request
            headers = req.headers if req is not None else {}
            context = (req.context if req is not None else {}) or {}
            cid = headers.get("x-correlation-id") or context.get("requestId")
            with correlation_scope(cid) as correlation_id:
                try:
                    result = view(**params)
                except Exception as exc:
                    status, body = error_response(exc)
                    if status >= 500:
                        logger.exception("request failed")
                    result = json_response(body, status)
                if isinstance(result, Response):
                    result.headers.setdefault("X-Correlation-Id", correlation_id)
                return result

        bp.route(path, **kwargs)(wrapped)
        return wrapped

    return decorator
