"""AnalyticsFunction's router: API Gateway REST proxy events -> service calls -> proxy responses.

Routes are keyed by (method, resource) as API Gateway sends them (`event["resource"]`). Every error
goes through `smartcourse.http.error_response`. The reports check the caller's session is live
(`readonly.lms_sessions`); the heartbeat, called every minute by every open lesson, checks only the
token's signature and reads analytics.* alone (docs/analytics.md, "Time on task").
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smartcourse.analytics import schemas as s
from smartcourse.analytics import service
from smartcourse.auth import Principal, bearer_token, verify_token
from smartcourse.db import Database
from smartcourse.errors import NotFound
from smartcourse.http import error_headers, error_response, path_id
from smartcourse.observability import logger
from smartcourse.readonly.lms_sessions import require_live


@dataclass(frozen=True)
class Context:
    """What a route needs, built on first use by the handler's container."""

    database: Database
    pseudonym_key: bytes
    page_size: int
    xapi_base: str = "https://smartcourse.example/xapi"
    xapi_home_page: str = "https://smartcourse.example"
    xapi_page_size: int = 100


@dataclass(frozen=True)
class Request:
    method: str
    resource: str
    path_params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]

    def uuid_param(self, name: str) -> uuid.UUID:
        """A path id (`smartcourse.http.path_id`: not a UUID is 404, as in the API)."""
        return path_id(self.path_params.get(name), name.removesuffix("_id").replace("_", " "))


def parse_event(event: dict[str, Any]) -> Request:
    ctx = event.get("requestContext") or {}
    return Request(
        method=str(event.get("httpMethod") or ctx.get("httpMethod") or "").upper(),
        resource=str(event.get("resource") or ctx.get("resourcePath") or ""),
        path_params={k: str(v) for k, v in (event.get("pathParameters") or {}).items()},
        query={k: str(v) for k, v in (event.get("queryStringParameters") or {}).items()},
        headers={str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()},
    )


Handler = Callable[[Context, Principal, Request], tuple[int, Any]]


def _live(c: Context, who: Principal) -> Principal:
    return require_live(c.database, who)


def _overview(c: Context, who: Principal, req: Request) -> tuple[int, Any]:
    return 200, service.overview(c.database, _live(c, who), req.uuid_param("course_id"))


def _lessons(c: Context, who: Principal, req: Request) -> tuple[int, Any]:
    return 200, service.lessons(c.database, _live(c, who), req.uuid_param("course_id"))


def _learners(c: Context, who: Principal, req: Request) -> tuple[int, Any]:
    query = s.LearnersQuery.model_validate(req.query)
    return 200, service.learners(c.database, _live(c, who), req.uuid_param("course_id"), query, c.page_size)


def _at_risk(c: Context, who: Principal, req: Request) -> tuple[int, Any]:
    query = s.AtRiskQuery.model_validate(req.query)
    return 200, service.at_risk(c.database, _live(c, who), req.uuid_param("course_id"), query, c.page_size)


def _xapi(c: Context, who: Principal, req: Request) -> tuple[int, Any]:
    query = s.XapiQuery.model_validate(req.query)
    return 200, service.xapi_statements(c.database, _live(c, who), req.uuid_param("course_id"), query,
                                        base=c.xapi_base, home_page=c.xapi_home_page,
                                        default_limit=c.xapi_page_size)


def _content_gaps(c: Context, who: Principal, req: Request) -> tuple[int, Any]:
    return 200, service.content_gaps(c.database, _live(c, who), req.uuid_param("course_id"))


def _admin(c: Context, who: Principal, req: Request) -> tuple[int, Any]:
    return 200, service.admin_overview(c.database, _live(c, who))


def _heartbeat(c: Context, who: Principal, req: Request) -> tuple[int, Any]:
    return 200, service.heartbeat(c.database, c.pseudonym_key, who, req.uuid_param("course_id"),
                                  req.uuid_param("lesson_id"))


ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", s.OVERVIEW): _overview,
    ("GET", s.LESSONS): _lessons,
    ("GET", s.LEARNERS): _learners,
    ("GET", s.AT_RISK): _at_risk,
    ("GET", s.CONTENT_GAPS): _content_gaps,
    ("GET", s.ADMIN_OVERVIEW): _admin,
    ("GET", s.XAPI): _xapi,
    ("POST", s.HEARTBEAT): _heartbeat,
}


def _response(status: int, body: Any, correlation_id: str,
              extra_headers: dict[str, str] | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "X-Correlation-Id": correlation_id, "Cache-Control": "no-store"}
    headers.update(extra_headers or {})
    text = body.model_dump_json() if hasattr(body, "model_dump_json") else json.dumps(body, default=str)
    return {"statusCode": status, "headers": headers, "body": text, "isBase64Encoded": False}


def dispatch(event: dict[str, Any], context: Callable[[], Context], jwt_secret: Callable[[], str],
             correlation_id: str) -> dict[str, Any]:
    """Route one proxy event; every outcome, errors included, is a proxy response."""
    try:
        req = parse_event(event)
        handler = ROUTES.get((req.method, req.resource))
        if handler is None:
            allowed = sorted(method for method, res in ROUTES if res == req.resource)
            if allowed:  # RFC 9110: a 405 names the methods the resource supports
                return _response(405, {"error": {"code": "method_not_allowed",
                                                 "message": f"{req.method} is not allowed on {req.resource}"}},
                                 correlation_id, {"Allow": ", ".join(allowed)})
            raise NotFound(f"no analytics route for {req.method} {req.resource or '?'}")
        who = verify_token(bearer_token(req.headers.get("authorization")), jwt_secret())
        status, body = handler(context(), who, req)
        return _response(status, body, correlation_id)
    except Exception as exc:
        status, body = error_response(exc)
        if status >= 500:
            logger.exception("request failed", extra={"status": status})
        else:
            logger.info("request refused", extra={"status": status, "code": body["error"]["code"]})
        return _response(status, body, correlation_id, error_headers(exc))
