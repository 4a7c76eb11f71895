"""AssistantFunction: the course assistant behind API Gateway (a plain handler, not Chalice, so
the API's cold start stays free of the embedding model).

Routes (template.yaml, AssistantFunction Api events):
  POST /courses/{course_id}/assistant/ask
  GET  /courses/{course_id}/assistant/status
  GET  /courses/{course_id}/assistant/conversations/{conversation_id}
  POST /courses/{course_id}/assistant/conversations/{conversation_id}/messages/{message_id}/feedback
  GET  /courses/{course_id}/search?q=...&limit=10
Settings are read on the first invocation; the model loads on the first question.
"""

from __future__ import annotations

# isort: off
from smartcourse import coldstart  # first: the imports below run without the garbage collector
# isort: on

from dataclasses import dataclass
from typing import Any

from assistant_routes import dispatch

from smartcourse import xray
from smartcourse.assistant.bootstrap import build_service
from smartcourse.assistant.service import AssistantService
from smartcourse.assistant.settings import AssistantSettings
from smartcourse.auth import resolve_jwt_secret
from smartcourse.container import Container, container
from smartcourse.http import cors_headers_from
from smartcourse.observability import child_traceparent, correlation_scope, logger, metrics
from smartcourse.settings import load_settings


@dataclass(frozen=True)
class Deps:
    settings: AssistantSettings
    jwt_secret: str
    #: built on the first request that passed authentication (a 401 imports no retrieval code)
    service: Container[AssistantService]


@container
def deps() -> Deps:
    """Built on the first invocation from AssistantSettings (the model loads on the first question)."""
    s = load_settings(AssistantSettings)
    return Deps(s, resolve_jwt_secret(s), Container(lambda: build_service(s)))


def _correlation_id(event: dict[str, Any]) -> str | None:
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    return headers.get("x-correlation-id") or (event.get("requestContext") or {}).get("requestId")


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    params = event.get("pathParameters") or {}
    with correlation_scope(_correlation_id(event), traceparent=child_traceparent(headers.get("traceparent"))) as cid, \
            xray.subsegment(f"{event.get('httpMethod')} {event.get('resource')}", resource=event.get("resource"),
                            course_id=params.get("course_id"), correlation_id=cid) as annotate:
        response = dispatch(event, lambda: deps().service(), lambda: deps().jwt_secret, cid,
                            max_body_bytes=lambda: deps().settings.max_body_bytes)
        annotate(status=response["statusCode"])
    # Every outcome (answers and errors alike) is readable by the web app's origin.
    response["headers"].update(cors_headers_from(lambda: load_settings(AssistantSettings)))
    return response

coldstart.loaded()  # last: freeze what the import made, collection back on
