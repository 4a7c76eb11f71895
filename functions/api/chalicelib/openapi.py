"""GET /openapi.json: an OpenAPI 3.1 document generated from the routes' pydantic models."""

from __future__ import annotations

import functools
import re
from typing import Any

from chalice import Blueprint, Response
from pydantic import BaseModel

from chalicelib.api import ROUTES, RouteDoc, endpoint
from chalicelib.web import json_response
from smartcourse.lms import schemas as s

bp = Blueprint(__name__)
REF = "#/components/schemas/{model}"

#: Routes other blueprints add to the document (`describe`).
EXTERNAL: list[RouteDoc] = []


def _other_functions() -> list[RouteDoc]:
    """Routes served outside the LMS blueprints, described here so the document stays complete: the
    health check, AssistantFunction's and AnalyticsFunction's routes (same API Gateway, other
    functions; their models live in smartcourse.assistant.schemas and smartcourse.analytics.schemas).
    Imported when the document is first built, not with the handler (cold start, issue 19)."""
    from smartcourse.analytics.schemas import OPERATIONS as ANALYTICS_OPERATIONS
    from smartcourse.assistant.schemas import EXTRA_ERRORS as ASSISTANT_EXTRA_ERRORS
    from smartcourse.assistant.schemas import OPERATIONS as ASSISTANT_OPERATIONS

    return [
        RouteDoc("/health", "GET", "Dependency health (postgres, kafka, s3); 503 when one fails", "operations",
                 response=s.Health, auth=False),
        *(RouteDoc(path, method, summary, "assistant", request=body, query=query, response=response,
                   errors=("429", "503", *ASSISTANT_EXTRA_ERRORS.get((method, path), ())))
          for method, path, summary, body, query, response in ASSISTANT_OPERATIONS),
        *(RouteDoc(path, method, summary, "analytics", request=body, query=query, response=response,
                   errors=("503",))
          for method, path, summary, body, query, response in ANALYTICS_OPERATIONS),
    ]


ERRORS = {
    "400": "The request is not valid (details name each field and problem)",
    "401": "Missing, expired or invalid access token",
    "403": "The token is valid but does not grant this",
    "404": "Not found, or not visible to the caller",
    "409": "Conflicts with the current state",
}


#: Statuses a route declares in RouteDoc.errors; 429 and 503 carry Retry-After (seconds).
OPTIONAL_ERRORS = {
    "401": "The email and password do not match an account",
    "422": "Well formed, but breaks a rule the schema cannot state, such as the order of two fields "
           "(details name the fields)",
    "429": "Too many requests from this user for this action; retry after Retry-After seconds",
    "503": "A dependency (database, language model) is unavailable; retry after Retry-After seconds when given",
}

RETRY_AFTER = ("429", "503")

BODY_ERRORS = {
    "413": "The body is larger than the function accepts (MAX_BODY_BYTES: 1 MiB for the LMS API, 64 KiB for the "
           "assistant; 10 MB at API Gateway), or an asset's size is over the deployment's MAX_ASSET_BYTES "
           "(50 MiB by default)",
    "415": "The body is not application/json",
}


def describe(doc: RouteDoc) -> None:
    """Other blueprints (e.g. certificates) add their routes to the document with this."""
    EXTERNAL.append(doc)


def _schema(model: type[BaseModel], mode: str, components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def build(routes: list[RouteDoc]) -> dict[str, Any]:
    components: dict[str, Any] = {}
    error_ref = _schema(s.Error, "serialization", components)
    paths: dict[str, dict[str, Any]] = {}
    for doc in sorted(routes, key=lambda d: (d.path, d.method)):
        op: dict[str, Any] = {"summary": doc.summary, "tags": [doc.tag],
                              "operationId": f"{doc.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', doc.path.lower())}"
                              .strip("_")}
        special = dict(doc.path_schemas)
        params: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True,
             "schema": special.get(name, {"type": "string", "format": "uuid"})}
            for name in re.findall(r"{([a-z_]+)}", doc.path)]
        if doc.query is not None:
            qs = doc.query.model_json_schema(ref_template=REF)
            for name, prop in qs.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": name in qs.get("required", []),
                               "schema": prop, **({"description": prop["description"]} if "description" in prop
                                                  else {})})
        if doc.idempotent:
            params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                           "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                           "description": "A replay with the same key returns the first result"})
        if params:
            op["parameters"] = params
        if doc.request is not None and doc.request.model_fields:
            op["requestBody"] = {"required": True, "content": {
                doc.request_media: {"schema": _schema(doc.request, "validation", components)}}}
        responses: dict[str, Any] = {}
        if doc.html:
            responses[str(doc.status)] = {"description": "A page", "content": {"text/html": {"schema": {
                "type": "string"}}}}
        elif doc.response is not None:
            responses[str(doc.status)] = {"description": "OK", "content": {
                "application/json": {"schema": _schema(doc.response, "serialization", components)}}}
        else:
            responses[str(doc.status)] = {"description": "No content"}
        for code, text in ERRORS.items():
            if code in ("401", "403") and not doc.auth:
                continue
            responses[code] = {"description": text, "content": {"application/json": {"schema": error_ref}}}
        for code in doc.errors:
            responses[code] = {"description": OPTIONAL_ERRORS[code], "content": {"application/json": {
                "schema": error_ref}}}
            if code in RETRY_AFTER:
                responses[code]["headers"] = {"Retry-After": {"schema": {"type": "integer", "minimum": 0}}}
        if "requestBody" in op:
            for code, text in BODY_ERRORS.items():
                responses[code] = {"description": text, "content": {"application/json": {"schema": error_ref}}}
        if doc.html:
            responses["404"] = {"description": "A page saying the link is not valid or has expired",
                                "content": {"text/html": {"schema": {"type": "string"}}}}
        op["responses"] = responses
        if doc.auth:
            op["security"] = [{"bearer": []}]
        paths.setdefault(doc.path, {})[doc.method.lower()] = op
    add_links(paths, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "SmartCourse API", "version": "1.0.0",
                 "description": "Errors are JSON: {error: {code, message, details: [{field, problem}]}}."},
        "paths": paths,
        "components": {"schemas": dict(sorted(components.items())),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }


def _properties(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """A schema's properties, through one `$ref` (and a nullable `anyOf`)."""
    for option in schema.get("anyOf", [schema]):
        ref = option.get("$ref")
        if ref:
            return dict(components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {}))
        if "properties" in option:
            return dict(option["properties"])
    return {}


def _provided(path: str, body: dict[str, Any], components: dict[str, Any]) -> dict[str, str]:
    """Path parameter name -> JSON pointer into a producer's response body: its `id` names the
    resource its path creates (POST /courses/{course_id}/modules -> module_id), an `x_id`
    property gives x_id, and a nested object with an `id` (`asset`) gives asset_id."""
    out: dict[str, str] = {}
    props = _properties(body, components)
    last = [seg for seg in path.split("/") if seg and not seg.startswith("{")][-1:]
    if "id" in props and last:
        out[f"{last[0].removesuffix('s')}_id"] = "/id"
    for name, prop in props.items():
        if name.endswith("_id"):
            if not any(o.get("type") == "null" for o in prop.get("anyOf", [])):  # an optional reference
                out.setdefault(name, f"/{name}")
        elif "id" in _properties(prop, components):
            out.setdefault(f"{name}_id", f"/{name}/id")
    return out


def add_links(paths: dict[str, dict[str, Any]], components: dict[str, Any]) -> None:
    """OpenAPI links from each operation that creates or returns a resource to the operations
    whose path names it (POST /courses -> every /courses/{course_id}... operation, ask ->
    its conversation and feedback), so a client, and stateful testing, can chain them. The
    consumer's other path parameters come from the producer's own request path when it has them."""
    consumers = [(path, method, op) for path, ops in paths.items() for method, op in ops.items()]
    for path, ops in paths.items():
        for method, op in ops.items():
            if method != "post":
                continue
            ok = next((code for code in ("201", "200") if code in op["responses"]), None)
            schema = op["responses"].get(ok or "", {}).get("content", {}).get("application/json", {}).get("schema")
            provided = _provided(path, schema, components) if schema else {}
            own = set(re.findall(r"{([a-z_]+)}", path))
            links: dict[str, Any] = {}
            for target, _, target_op in consumers:
                wanted = re.findall(r"{([a-z_]+)}", target)
                if not any(name in provided and name not in own for name in wanted):
                    continue
                params = {name: f"$response.body#{provided[name]}" if name in provided and name not in own
                          else f"$request.path.{name}" for name in wanted if name in provided or name in own}
                links[target_op["operationId"]] = {"operationId": target_op["operationId"], "parameters": params}
            if links and ok:
                op["responses"][ok]["links"] = dict(sorted(links.items()))


@functools.cache
def document() -> dict[str, Any]:
    return build([*ROUTES, *_other_functions(), *EXTERNAL])


@endpoint(bp, "/openapi.json", "GET", summary="This document (OpenAPI 3.1)", tag="operations", auth=False)
def openapi() -> Response:
    return json_response(document())
