"""What every LMS route shares: the caller's identity, request parsing into pydantic models,
running one service call in one transaction (with Idempotency-Key replay), and the route registry
the OpenAPI document is generated from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from chalice import Blueprint, Response
from pydantic import BaseModel, ValidationError

from chalicelib import deps
from chalicelib.web import json_response, route
from smartcourse.accounts.service import Client
from smartcourse.auth import Principal, bearer_token, verify_token
from smartcourse.errors import BadRequest, Conflict, FieldProblem
from smartcourse.http import json_object, validation_error
from smartcourse.lms.objects import LazyStorage
from smartcourse.lms.repository import PgRepository
from smartcourse.lms.service import LmsService
from smartcourse.observability import logger
from smartcourse.readonly import lms_sessions

M = TypeVar("M", bound=BaseModel)


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


@dataclass(frozen=True)
class RouteDoc:
    path: str
    method: str
    summary: str
    tag: str
    request: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: bool = True
    idempotent: bool = False
    #: statuses beyond the common ones (openapi.ERRORS): 422, or 429 and 503 with Retry-After
    errors: tuple[str, ...] = ()
    #: the request body's media type (`request` describes its fields)
    request_media: str = "application/json"
    #: the view answers a page (text/html), for success and for 404, instead of JSON
    html: bool = False
    #: path parameters that are not UUIDs: name -> JSON schema
    path_schemas: tuple[tuple[str, dict[str, Any]], ...] = ()


ROUTES: list[RouteDoc] = []


def endpoint(bp: Blueprint, path: str, method: str, *, summary: str, tag: str, request: type[BaseModel] | None = None,
             query: type[BaseModel] | None = None, response: type[BaseModel] | None = None, status: int = 200,
             auth: bool = True, idempotent: bool = False, errors: tuple[str, ...] = (),
             request_media: str = "application/json", html: bool = False,
             path_schemas: tuple[tuple[str, dict[str, Any]], ...] = ()
             ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`web.route` for one method, recorded with its models for /openapi.json."""
    ROUTES.append(RouteDoc(path, method, summary, tag, request, query, response, status, auth, idempotent, errors,
                           request_media, html, path_schemas))
    extra = {"content_types": [request_media]} if request_media != "application/json" else {}
    return route(bp, path, methods=[method], **extra)


# --- request parsing ------------------------------------------------------------------------------

def principal(bp: Blueprint) -> Principal:
    """The caller of a valid access token whose session is live (not signed out, not ended by a
    password change or an administrator): 401 otherwise."""
    req = bp.current_request
    who = verify_token(bearer_token(req.headers.get("authorization")), deps.config().jwt_secret)
    return lms_sessions.require_live(deps.database(), who)


def client(bp: Blueprint) -> Client:
    """Where the request comes from (API Gateway's requestContext.identity)."""
    identity = (bp.current_request.context or {}).get("identity") or {}
    return Client(ip=str(identity.get("sourceIp") or "unknown"), user_agent=identity.get("userAgent"))


def _json_body(bp: Blueprint) -> dict[str, Any]:
    return json_object(bp.current_request.raw_body, max_bytes=deps.settings().max_body_bytes)


def body(bp: Blueprint, model: type[M]) -> M:
    return _validate(model, _json_body(bp))


def _validate(model: type[M], data: dict[str, Any]) -> M:
    """Only the request's own validation errors are the caller's fault (400)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def query(bp: Blueprint, model: type[M]) -> M:
    params: Any = bp.current_request.query_params or {}
    return _validate(model, {k: params[k] for k in params})


# --- running a use case ---------------------------------------------------------------------------

def execute(bp: Blueprint, call: Callable[[LmsService], BaseModel | None], *, status: int = 200,
            caller: Principal | None = None, idempotent: bool = False) -> Response:
    """Run `call` in one transaction; with an Idempotency-Key, a replay returns the first result."""
    req = bp.current_request
    key = req.headers.get("idempotency-key") if idempotent else None
    if key is not None and not (1 <= len(key) <= 200):
        raise BadRequest("Idempotency-Key must be 1 to 200 characters",
                         details=[FieldProblem("Idempotency-Key", "length")])
    scope = f"user:{caller.user_id}" if caller else "anon"
    service: LmsService | None = None
    with deps.database().transaction() as conn:
        repo = PgRepository(conn)
        if key is not None:
            fingerprint = hashlib.sha256(json.dumps(
                [req.method, req.path, req.uri_params or {}, _json_body(bp)], sort_keys=True, default=str,
            ).encode()).hexdigest()
            stored = repo.claim_idempotency_key(scope, key, req.method, req.path, fingerprint)
            if stored is not None:
                if stored["request_hash"] != fingerprint:
                    raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
                return json_response(stored["response_body"], stored["response_status"],
                                     headers={"Idempotent-Replayed": "true"})
        service = LmsService(repo, LazyStorage(deps.storage), deps.config())
        try:
            result = call(service)
        except ValidationError as exc:  # a response model that does not fit: our bug, a 500
            raise RuntimeError(f"response validation failed: {exc}") from exc
        payload = result.model_dump(mode="json") if result is not None else None
        if key is not None:
            repo.store_idempotent_response(scope, key, status, payload)
    for side_effect in service.after_commit:
        try:
            side_effect()
        except Exception:  # the commit stands; the event already tells consumers
            logger.exception("post-commit side effect failed")
    if payload is None:
        return Response(body="", status_code=204)
    return json_response(payload, status)
