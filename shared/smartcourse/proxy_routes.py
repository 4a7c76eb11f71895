"""The router of the functions that serve API Gateway REST proxy events themselves, not through
Chalice (AssistantFunction, AnalyticsFunction: the API's import graph and cold start stay theirs).

A function lists its routes by (method, resource) as API Gateway sends them (`event["resource"]`),
each a handler (context, caller, request) -> (status, body), in a `Router`. `Router.dispatch` turns
one proxy event into one proxy response, whatever happens: an unknown resource is 404, a known one
with another method 405 naming the methods it allows (RFC 9110), the bearer token is checked before
the context is built or a handler runs, and every error goes through `smartcourse.http`
(`error_response`, `error_headers`: the API's answers, Retry-After on 429 and 503). Every response
carries the correlation id; the function's handler adds the CORS headers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from smartcourse.auth import Principal, bearer_token, verify_token
from smartcourse.errors import BadRequest, FieldProblem, NotFound, UnsupportedMediaType
from smartcourse.http import error_headers, error_response, json_object, path_id
from smartcourse.observability import logger

#: The largest request body when the function names none (AssistantSettings.max_body_bytes's default).
DEFAULT_MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    resource: str
    path_params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    body: str | None = None

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def uuid_param(self, name: str) -> uuid.UUID:
        """A path id (`smartcourse.http.path_id`: not a UUID is 404, as in the API)."""
        return path_id(self.path_params.get(name), name.removesuffix("_id").replace("_", " "))

    def json(self) -> dict[str, Any]:
        """The body as a JSON object (`smartcourse.http.json_object`); 415 for another media type."""
        media = self.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if self.body and media and media != "application/json" and not media.endswith("+json"):
            raise UnsupportedMediaType(
                f"unsupported media type {media}: send application/json",
                details=[FieldProblem("Content-Type", "must be application/json")],
            )
        return json_object(self.body, max_bytes=self.max_body_bytes)


def parse_event(
    event: dict[str, Any], max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, *, with_body: bool = True
) -> Request:
    """The request of a proxy event; ``with_body=False`` leaves the body unread (routes that take none)."""
    ctx = event.get("requestContext") or {}
    body = event.get("body") if with_body else None
    if body is not None and event.get("isBase64Encoded"):
        import base64

        try:
            body = base64.b64decode(body).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("the body is not UTF-8 text", details=[FieldProblem("body", "not UTF-8")]) from None
    return Request(
        method=str(event.get("httpMethod") or ctx.get("httpMethod") or "").upper(),
        resource=str(event.get("resource") or ctx.get("resourcePath") or ""),
        path_params={k: str(v) for k, v in (event.get("pathParameters") or {}).items()},
        query={k: str(v) for k, v in (event.get("queryStringParameters") or {}).items()},
        headers={str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()},
        body=body,
        max_body_bytes=max_body_bytes,
    )


def response(
    status: int, body: Any, correlation_id: str, extra_headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """A proxy response: JSON (a pydantic model as its own JSON), never cached, with the correlation id."""
    headers = {"Content-Type": "application/json", "X-Correlation-Id": correlation_id, "Cache-Control": "no-store"}
    headers.update(extra_headers or {})
    text = body.model_dump_json() if hasattr(body, "model_dump_json") else json.dumps(body, default=str)
    return {"statusCode": status, "headers": headers, "body": text, "isBase64Encoded": False}


C = TypeVar("C")
#: A route: (the function's context, the caller, the request) -> (status, JSON body).
Handler = Callable[[C, Principal, Request], tuple[int, Any]]


@dataclass(frozen=True)
class Router(Generic[C]):
    """``name`` says whose routes a 404 means; ``admit`` checks the caller further once the token
    is verified and the context built (the assistant: the session is still live); ``with_body``
    False for routes that read no body."""

    name: str
    routes: Mapping[tuple[str, str], Handler[C]]
    admit: Callable[[C, Principal], Principal] | None = None
    with_body: bool = True

    def dispatch(
        self,
        event: dict[str, Any],
        context: Callable[[], C],
        jwt_secret: Callable[[], str],
        correlation_id: str,
        *,
        max_body_bytes: Callable[[], int] | None = None,
    ) -> dict[str, Any]:
        """Route one proxy event; every outcome, errors included, is a proxy response."""
        try:
            limit = max_body_bytes() if max_body_bytes is not None else DEFAULT_MAX_BODY_BYTES
            req = parse_event(event, limit, with_body=self.with_body)
            handler = self.routes.get((req.method, req.resource))
            if handler is None:
                allowed = sorted(method for method, res in self.routes if res == req.resource)
                if allowed:  # RFC 9110: a 405 names the methods the resource supports
                    message = f"{req.method} is not allowed on {req.resource}"
                    body = {"error": {"code": "method_not_allowed", "message": message}}
                    return response(405, body, correlation_id, {"Allow": ", ".join(allowed)})
                raise NotFound(f"no {self.name} route for {req.method} {req.resource or '?'}")
            who = verify_token(bearer_token(req.headers.get("authorization")), jwt_secret())
            ctx = context()
            status, body = handler(ctx, self.admit(ctx, who) if self.admit else who, req)
            return response(status, body, correlation_id)
        except Exception as exc:
            status, body = error_response(exc)
            if status >= 500:
                logger.exception("request failed", extra={"status": status})
            else:
                logger.info("request refused", extra={"status": status, "code": body["error"]["code"]})
            return response(status, body, correlation_id, error_headers(exc))
