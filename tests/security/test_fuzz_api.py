"""Schemathesis against the API's own /openapi.json, through the local gateway: every operation,
each generated request sent anonymously and with a valid token of each role (student, instructor,
admin), then stateful chains along the document's links, then stateful chains as one of two
instructor peers. Checks: every check Schemathesis has (CHECKS, STATEFUL_CHECKS, PEER_CHECKS): no
5xx; status, headers, content type and body as documented; what the document allows is accepted and
what it forbids refused; 405 with Allow; auth enforced where declared; a deleted resource stays gone;
one instructor's objects are not served to the other. Bounded and deterministic: MAX_EXAMPLES per
operation, derandomized."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ensure_resource_availability,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    object_level_authorization,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
    use_after_free,
)

from tests.security.conftest import PASSWORD, Gateway, sign_in

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 15
ROLES = ("anonymous", "student", "instructor", "admin")
CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# With PEER_CHECKS, every check Schemathesis has (test_every_check_is_used keeps it so). positive_data_acceptance:
# a request the document allows is accepted, or refused for a reason the document cannot state in
# a schema: 401/403/404/409/429, 413 for a deployment's size limit below the document's cap (an
# asset's `size` over MAX_ASSET_BYTES, 50 MiB by default, stated in the 413 response), and 422 for a
# rule JSON Schema cannot express (an enrolment window that closes before it opens). A 400 is only
# for what the document itself forbids.
CHECKS = [*CONFORMANCE, response_headers_conformance, negative_data_rejection, positive_data_acceptance,
          missing_required_header, unsupported_method, allow_header_conformance, ignored_auth]
STATEFUL_CHECKS = [*CHECKS, use_after_free, ensure_resource_availability]
# object_level_authorization needs two identities of one role whose objects are private to each
# other (an "escalating" Schemathesis auth provider with peers): test_one_instructor_never_reads_
# anothers_objects runs it; test_route_matrix.py covers every operation x actor besides.
PEER_CHECKS = [*STATEFUL_CHECKS, object_level_authorization]
#: Paths of the operations that end the caller's sessions (one, all, by a password change, or the
#: account itself: DELETE /me; GET /me shares the path): sent with a new session of a throwaway
#: account of the role, so the roles' own tokens stay live; left out of the stateful scenarios,
#: which keep one token throughout.
OWN_SESSIONS = ["/auth/logout", "/auth/logout-all", "/me/password", "/me"]
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
ACCEPTED = ["2xx", "401", "403", "404", "409", "413", "422", "429"]  # positive_data_acceptance, see CHECKS
SETTINGS = {"phases": {"coverage": {"unexpected-methods": UNEXPECTED_METHODS}},
            "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}}}
schema = schemathesis.openapi.from_dict(DOCUMENT, config=SchemathesisConfig.from_dict(SETTINGS))


@pytest.fixture(scope="module")
def own_session(gateway: Gateway, database_url: str, function_env: dict[str, str]) -> Callable[[str], str]:
    """role -> a token of a new session of that role's throwaway account (OWN_SESSIONS)."""
    from smartcourse.lms.cli import create_admin
    from testkit.sessions import session_token

    users = {role: sign_in(gateway.client, role)[1]["id"] for role in ("student", "instructor")}
    users["admin"] = create_admin(database_url, f"fuzz-admin-{uuid.uuid4().hex[:8]}@example.com", "A", PASSWORD)["id"]
    return lambda role: session_token(database_url, users[role], role, function_env["JWT_SECRET"])


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_for_every_role(case: Any, gateway: Gateway, own_session: Callable[[str], str]) -> None:
    # Given a request generated from the schema, when each role sends it, then no 5xx and the
    # response conforms to the document.
    for role in ROLES:
        if role == "anonymous":
            headers = {}
        else:
            token = own_session(role) if case.operation.path in OWN_SESSIONS else gateway.tokens[role]
            headers = {"Authorization": f"Bearer {token}"}
        response = case.call(base_url=gateway.base_url, headers=headers, timeout=60)
        SENT[(case.operation.label, role, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)


def test_every_check_is_used() -> None:
    # A Schemathesis upgrade that adds a check fails here until the check is run (or a reason to
    # leave it out is written in LEFT_OUT).
    assert {c.__name__ for c in REGISTERED_CHECKS.get_all()} == {c.__name__ for c in PEER_CHECKS}


def test_the_gateway_serves_this_document_and_it_names_every_api_route(gateway: Gateway) -> None:
    # The fuzzing is only as wide as the document: every Chalice route and every route of the
    # assistant's and the analytics function's routers must be in it.
    from tests.conftest import load_function_module

    app = load_function_module("api").app
    doc = gateway.client.get("/openapi.json").json()
    assert doc == DOCUMENT
    routes = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    for function, module in (("assistant", "assistant_routes"), ("analytics", "analytics_routes")):
        routes |= {(resource, method.lower()) for method, resource in load_function_module(function, module).ROUTES}
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


def stateful_schema(loaded: Any) -> Any:
    """What stateful scenarios chain: not OWN_SESSIONS (a scenario keeps one token), and not the
    admin operations (403 for the instructors and students the scenarios run as; the per-request
    run above sends them as an admin too). With the admin operations in, the instructor's run
    stopped every time with Hypothesis' FlakyStrategyDefinition (data generation depending on
    external state); the cause was not pinned down further."""
    return loaded.exclude(path=OWN_SESSIONS).exclude(tag="admin")


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

    class Workflow(stateful_schema(schema).as_state_machine()):  # type: ignore[misc]
        token = ""

        def setup(self) -> None:
            # Each scenario as a new account of the role: with one account for all of them, what an
            # earlier scenario (or an earlier test) left behind, such as an enrolment, changed which
            # links a later one could follow, and Hypothesis stopped with FlakyStrategyDefinition
            # (seen for the student after tests/integration/assistant and tests/security together).
            self.token = sign_in(gateway.client, role)[0]

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": gateway.base_url, "headers": {"Authorization": f"Bearer {self.token}"},
                    "timeout": 60}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=STATEFUL_CHECKS, transport_kwargs=kwargs or None,
                                   recorder=getattr(self, "recorder", None))

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            SENT[(f"stateful {case.operation.label}", role, response.status_code)] += 1

    Workflow.run(settings=settings(max_examples=STATEFUL_SCENARIOS, stateful_step_count=STATEFUL_STEPS,
                                   derandomize=True, deadline=None, database=None,
                                   suppress_health_check=list(HealthCheck)))


def test_one_instructor_never_reads_anothers_objects(gateway: Gateway, tmp_path: Any) -> None:
    # Given two instructors listed as peers in a Web Fuzzing Commons auth document, when stateful
    # scenarios run as the first (create a course, its modules, lessons, assets, enrolments ...),
    # then Schemathesis replays each successful read of an object the first created as the second,
    # and the second never receives it (object_level_authorization), besides every other check.
    peers = {name: sign_in(gateway.client, "instructor")[0] for name in ("alice", "bob")}
    wfc = tmp_path / "auth.json"
    wfc.write_text(json.dumps({"auth": [
        {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}]}
        for name, token in peers.items()]}))
    config = SchemathesisConfig.from_dict({**SETTINGS, "auth": {"wfc": {"path": str(wfc), "peers": list(peers)}}})
    peered = schemathesis.openapi.from_dict(DOCUMENT, config=config)
    probes: Counter[str] = Counter()

    class Workflow(stateful_schema(peered).as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": gateway.base_url, "timeout": 60}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=PEER_CHECKS, transport_kwargs=kwargs or None,
                                   recorder=getattr(self, "recorder", None))

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            probes[str(case.auth_identity)] += 1
            SENT[(f"peers {case.operation.label}", str(case.auth_identity), response.status_code)] += 1

    Workflow.run(settings=settings(max_examples=STATEFUL_SCENARIOS, stateful_step_count=STATEFUL_STEPS,
                                   derandomize=True, deadline=None, database=None,
                                   suppress_health_check=list(HealthCheck)))
    assert probes["alice"] > 0, probes
