"""The assistant's tiny router: API Gateway REST proxy events -> service calls -> proxy responses.

Routes are keyed by (method, resource) as API Gateway sends them (`event["resource"]`). Every error
goes through `smartcourse.http.error_response`; 429 and 503 carry Retry-After when known.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smartcourse.assistant.schemas import AskBody, FeedbackBody
from smartcourse.assistant.service import AssistantService
from smartcourse.auth import Principal, bearer_token, verify_token
from smartcourse.errors import (
    BadRequest,
    FieldProblem,
    NotFound,
    UnsupportedMediaType,
    ValidationFailed,
)
from smartcourse.http import error_headers, error_response, json_object, path_id
from smartcourse.observability import count, logger, measure

BASE = "/courses/{course_id}"
ASK = f"{BASE}/assistant/ask"
STATUS = f"{BASE}/assistant/status"
CONVERSATION = f"{BASE}/assistant/conversations/{{conversation_id}}"
FEEDBACK = f"{CONVERSATION}/messages/{{message_id}}/feedback"
SEARCH = f"{BASE}/search"
#: AssistantSettings.max_body_bytes's default (the handler passes the setting)
DEFAULT_MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    resource: str
    path_params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    body: str | None

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def uuid_param(self, name: str) -> uuid.UUID:
        """A path id (`smartcourse.http.path_id`: not a UUID is 404, as in the API)."""
        return path_id(self.path_params.get(name), name.removesuffix("_id").replace("_", " "))

    def json(self) -> dict[str, Any]:
        media = self.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if self.body and media and media != "application/json" and not media.endswith("+json"):
            raise UnsupportedMediaType(f"unsupported media type {media}: send application/json",
                                       details=[FieldProblem("Content-Type", "must be application/json")])
        return json_object(self.body, max_bytes=self.max_body_bytes)


def parse_event(event: dict[str, Any], max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Request:
    ctx = event.get("requestContext") or {}
    body = event.get("body")
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


Handler = Callable[[AssistantService, Principal, Request], tuple[int, dict[str, Any]]]


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


ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", ASK): _ask,
    ("GET", STATUS): _status,
    ("GET", CONVERSATION): _conversation,
    ("POST", FEEDBACK): _feedback,
    ("GET", SEARCH): _search,
}


def _response(status: int, body: dict[str, Any], correlation_id: str,
              extra_headers: dict[str, str] | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "X-Correlation-Id": correlation_id, "Cache-Control": "no-store"}
    headers.update(extra_headers or {})
    return {"statusCode": status, "headers": headers, "body": json.dumps(body, default=str), "isBase64Encoded": False}


def dispatch(event: dict[str, Any], service: Callable[[], AssistantService], jwt_secret: Callable[[], str],
             correlation_id: str, *, max_body_bytes: Callable[[], int] | None = None) -> dict[str, Any]:
    """Route one proxy event; every outcome, errors included, is a proxy response."""
    try:
        req = parse_event(event, max_body_bytes() if max_body_bytes is not None else DEFAULT_MAX_BODY_BYTES)
        handler = ROUTES.get((req.method, req.resource))
        if handler is None:
            allowed = sorted(method for method, res in ROUTES if res == req.resource)
            if allowed:  # RFC 9110: a 405 names the methods the resource supports
                return _response(405, {"error": {"code": "method_not_allowed",
                                                 "message": f"{req.method} is not allowed on {req.resource}"}},
                                 correlation_id, {"Allow": ", ".join(allowed)})
            raise NotFound(f"no assistant route for {req.method} {req.resource or '?'}")
        who = verify_token(bearer_token(req.headers.get("authorization")), jwt_secret())
        svc = service()
        status, body = handler(svc, svc.require_session(who), req)
        return _response(status, body, correlation_id)
    except Exception as exc:
        status, body = error_response(exc)
        headers = error_headers(exc)
        if status >= 500:
            logger.exception("request failed", extra={"status": status})
        else:
            logger.info("request refused", extra={"status": status, "code": body["error"]["code"]})
        return _response(status, body, correlation_id, headers)
