"""Schemathesis against the API's own /openapi.json, through the local gateway: every operation,
each generated request sent anonymously and with a valid token of each role (student, instructor,
admin). Checks: no 5xx, the response's status is documented, its content type and body match the
schema. Bounded and deterministic: MAX_EXAMPLES per operation, derandomized (a fixed seed)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)

from tests.security.conftest import Gateway

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 15
ROLES = ("anonymous", "student", "instructor", "admin")
CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Every check but positive_data_acceptance: a request the schema allows may still break a rule JSON
# Schema cannot state (enroll_opens_at before enroll_closes_at, a cursor's timestamp, an email's shape
# as the validator reads it, the service's MAX_QUESTION_CHARS below the model's cap); those answer 400
# with the field named. negative_data_rejection holds the other direction: whatever the document
# forbids is refused.
CHECKS = [*CONFORMANCE, negative_data_rejection]
STATEFUL_CHECKS = [*CHECKS, use_after_free, ensure_resource_availability]
SENT: Counter[tuple[str, str, int]] = Counter()   # (operation, role, status) -> requests


@pytest.fixture(scope="module", autouse=True)
def fuzz_summary() -> Iterator[None]:
    """Prints what was sent (run with -s to see it; docs/reliability.md quotes these figures)."""
    yield
    if SENT:
        ops = {op for op, _, _ in SENT}
        by_status = Counter[int]()
        for (_, _, status), n in SENT.items():
            by_status[status] += n
        statuses = dict(sorted(by_status.items()))
        print(f"\nfuzz: {len(ops)} operations, {sum(SENT.values())} requests, by status {statuses}")


def _document() -> dict[str, Any]:
    """The document the API serves at /openapi.json (read in-process: the gateway's port is only
    known once the session fixtures run, after collection). test_the_gateway_serves_this_document
    checks it is the same document the gateway serves."""
    from chalice.test import Client

    from tests.conftest import load_function_module

    with Client(load_function_module("api").app) as client:
        doc: dict[str, Any] = json.loads(client.http.get("/openapi.json").body)
    return doc


DOCUMENT = _document()
# The coverage phase also sends methods no operation declares, TRACE and QUERY included: the local
# gateway answers every method from route matching (JSON 405 on a known path, like API Gateway's
# answer), and OPTIONS with the CORS preflight the template's Globals.Api.Cors declares.
UNEXPECTED_METHODS = ["get", "put", "post", "delete", "options", "patch", "trace", "query"]
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"unexpected-methods": UNEXPECTED_METHODS}}})
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_for_every_role(case: Any, gateway: Gateway) -> None:
    # Given a request generated from the schema, when each role sends it, then no 5xx and the
    # response conforms to the document.
    for role in ROLES:
        headers = {} if role == "anonymous" else {"Authorization": f"Bearer {gateway.tokens[role]}"}
        response = case.call(base_url=gateway.base_url, headers=headers, timeout=60)
        SENT[(case.operation.label, role, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)


def test_the_gateway_serves_this_document_and_it_names_every_api_route(gateway: Gateway) -> None:
    # The fuzzing is only as wide as the document: every Chalice route and every route of the
    # assistant's router must be in it.
    from tests.conftest import load_function_module

    app = load_function_module("api").app
    router = load_function_module("assistant", "assistant_routes")
    doc = gateway.client.get("/openapi.json").json()
    assert doc == DOCUMENT
    routes = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    routes |= {(resource, method.lower()) for method, resource in router.ROUTES}
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes == documented


@pytest.mark.parametrize(("status", "kwargs", "expected"), [
    (200, {"json": {"wrong": 1}}, "JsonSchemaError"),
    (500, {"json": {"error": {}}}, "ServerError"),
    (418, {"json": {"error": {"code": "x", "message": "y"}}}, "UndefinedStatusCode"),
    (200, {"text": "hi", "headers": {"content-type": "text/html"}}, "UndefinedContentType"),
])
def test_the_checks_catch_what_they_claim_to(status: int, kwargs: dict[str, Any], expected: str) -> None:
    # A zero-finding fuzz run means something only if the same checks fail bad responses.
    import datetime

    import httpx
    from schemathesis.core.failures import FailureGroup

    response = httpx.Response(status, request=httpx.Request("GET", "http://127.0.0.1:1/me"), **kwargs)
    response.elapsed = datetime.timedelta(0)
    with pytest.raises(FailureGroup) as failed:
        schema["/me"]["GET"].Case().validate_response(response, checks=CONFORMANCE)
    assert expected in {type(f).__name__ for f in failed.value.exceptions}


STATEFUL_SCENARIOS = 40
STATEFUL_STEPS = 8


@pytest.mark.parametrize("role", ["instructor", "student"])
def test_stateful_workflows_follow_the_documents_links(gateway: Gateway, role: str) -> None:
    # Given the document's links (POST /courses -> its modules, lessons, assets, enrolments; ask ->
    # its conversation and feedback), when scenarios of chained calls run with the role's token,
    # then every response passes the checks, the stateful ones included (a deleted resource stays
    # gone, a created one can be read).
    assert any("links" in r for ops in DOCUMENT["paths"].values() for op in ops.values()
               for r in op["responses"].values())
    token = gateway.tokens[role]

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": gateway.base_url, "headers": {"Authorization": f"Bearer {token}"}, "timeout": 60}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=STATEFUL_CHECKS, transport_kwargs=kwargs or None,
                                   recorder=getattr(self, "recorder", None))

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            SENT[(f"stateful {case.operation.label}", role, response.status_code)] += 1

    Workflow.run(settings=settings(max_examples=STATEFUL_SCENARIOS, stateful_step_count=STATEFUL_STEPS,
                                   derandomize=True, deadline=None, database=None,
                                   suppress_health_check=list(HealthCheck)))
