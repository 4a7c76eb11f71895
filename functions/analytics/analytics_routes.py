"""AnalyticsFunction's routes: API Gateway REST proxy events -> service calls -> proxy responses.

Routes are keyed by (method, resource) as API Gateway sends them (`event["resource"]`) and served by
the shared proxy router (`smartcourse.proxy_routes`: parsing, the token, then the route; every error
through `smartcourse.http.error_response`); none reads a request body. The reports check the
caller's session is live (`readonly.lms_sessions`); the heartbeat, called every minute by every open
lesson, checks only the token's signature and reads analytics.* alone (docs/analytics.md, "Time on
task").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smartcourse.analytics import schemas as s
from smartcourse.analytics import service
from smartcourse.auth import Principal
from smartcourse.db import Database
from smartcourse.proxy_routes import Handler, Request, Router
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


ROUTES: dict[tuple[str, str], Handler[Context]] = {
    ("GET", s.OVERVIEW): _overview,
    ("GET", s.LESSONS): _lessons,
    ("GET", s.LEARNERS): _learners,
    ("GET", s.AT_RISK): _at_risk,
    ("GET", s.CONTENT_GAPS): _content_gaps,
    ("GET", s.ADMIN_OVERVIEW): _admin,
    ("GET", s.XAPI): _xapi,
    ("POST", s.HEARTBEAT): _heartbeat,
}

ROUTER = Router("analytics", ROUTES, with_body=False)
#: (event, context, jwt_secret, correlation_id) -> proxy response
dispatch = ROUTER.dispatch
