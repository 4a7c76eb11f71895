"""The assistant's routes: API Gateway REST proxy events -> service calls -> proxy responses.

Routes are keyed by (method, resource) as API Gateway sends them (`event["resource"]`) and served by
the shared proxy router (`smartcourse.proxy_routes`: parsing, the token, then the caller's session,
then the route; every error through `smartcourse.http.error_response`, 429 and 503 with Retry-After
when known).
"""

from __future__ import annotations

from typing import Any

from smartcourse.assistant.schemas import AskBody, FeedbackBody
from smartcourse.assistant.service import AssistantService
from smartcourse.auth import Principal
from smartcourse.errors import FieldProblem, ValidationFailed
from smartcourse.observability import count, logger, measure
from smartcourse.proxy_routes import Handler, Request, Router

BASE = "/courses/{course_id}"
ASK = f"{BASE}/assistant/ask"
STATUS = f"{BASE}/assistant/status"
CONVERSATION = f"{BASE}/assistant/conversations/{{conversation_id}}"
FEEDBACK = f"{CONVERSATION}/messages/{{message_id}}/feedback"
SEARCH = f"{BASE}/search"


def _ask(svc: AssistantService, who: Principal, req: Request) -> tuple[int, dict[str, Any]]:
    body = AskBody.model_validate(req.json())
    result = svc.ask(who, req.uuid_param("course_id"), body.question, body.conversation_id)
    count("AssistantAnswers")
    count("AssistantRefusals", int(result.refused))
    measure("AssistantAskLatency", result.timings_ms["total"])
    logger.info("answered", extra={"refused": result.refused, "reason": result.body["reason"],
                                   "model": result.body["model"],
                                   "timings_ms": {k: round(v, 1) for k, v in result.timings_ms.items()}})
    return 200, result.body


def _status(svc: AssistantService, who: Principal, req: Request) -> tuple[int, dict[str, Any]]:
    return 200, svc.status(who, req.uuid_param("course_id"))


def _conversation(svc: AssistantService, who: Principal, req: Request) -> tuple[int, dict[str, Any]]:
    return 200, svc.conversation(who, req.uuid_param("course_id"), req.uuid_param("conversation_id"))


def _feedback(svc: AssistantService, who: Principal, req: Request) -> tuple[int, dict[str, Any]]:
    body = FeedbackBody.model_validate(req.json())
    return 200, svc.feedback(who, req.uuid_param("course_id"), req.uuid_param("conversation_id"),
                             req.uuid_param("message_id"), body.helpful, body.comment)


def _search(svc: AssistantService, who: Principal, req: Request) -> tuple[int, dict[str, Any]]:
    raw_limit = req.query.get("limit", "10")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise ValidationFailed("limit is not a number", details=[FieldProblem("limit", "must be an integer")]) from None
    return 200, svc.search(who, req.uuid_param("course_id"), req.query.get("q", ""), limit)


ROUTES: dict[tuple[str, str], Handler[AssistantService]] = {
    ("POST", ASK): _ask,
    ("GET", STATUS): _status,
    ("GET", CONVERSATION): _conversation,
    ("POST", FEEDBACK): _feedback,
    ("GET", SEARCH): _search,
}

#: Every request's session is checked after its token: signed out, password changed or account
#: disabled is 401 before any route runs.
ROUTER = Router("assistant", ROUTES, admit=lambda svc, who: svc.require_session(who))
#: (event, service, jwt_secret, correlation_id, *, max_body_bytes) -> proxy response
dispatch = ROUTER.dispatch
