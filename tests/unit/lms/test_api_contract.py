"""The API's wiring stays consistent: template.yaml's Api events, the Chalice routes, the
assistant's router and /openapi.json name the same (path, method) pairs; the API never imports
the AI/Kafka stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from tests.conftest import ROOT, load_function_module


def _app() -> Any:
    return load_function_module("api").app


def _app_routes() -> set[tuple[str, str]]:
    return {(path, method) for path, methods in _app().routes.items() for method in methods}


def _wired(function: str) -> set[tuple[str, str]]:
    from devstack.template import load_raw

    events = load_raw()["Resources"][function]["Properties"]["Events"]
    return {(e["Properties"]["Path"], e["Properties"]["Method"].upper()) for e in events.values() if e["Type"] == "Api"}


def test_template_api_events_equal_the_chalice_routes() -> None:
    assert _wired("ApiFunction") == _app_routes()


def test_the_assistant_routes_equal_its_template_events_and_its_documented_operations() -> None:
    from smartcourse.assistant.schemas import OPERATIONS

    router = load_function_module("assistant", "assistant_routes")
    assert _wired("AssistantFunction") == {(res, method) for method, res in router.ROUTES}
    assert {(path, method) for method, path, *_ in OPERATIONS} == _wired("AssistantFunction")


def test_the_analytics_routes_equal_its_template_events_and_its_documented_operations() -> None:
    from smartcourse.analytics.schemas import OPERATIONS

    router = load_function_module("analytics", "analytics_routes")
    assert _wired("AnalyticsFunction") == {(res, method) for method, res in router.ROUTES}
    assert {(path, method) for method, path, *_ in OPERATIONS} == _wired("AnalyticsFunction")


def test_openapi_documents_exactly_the_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    with Client(_app()) as client:
        resp = client.http.get("/openapi.json")
    assert resp.status_code == 200
    doc = json.loads(resp.body)
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    assert documented == _app_routes() | _wired("AssistantFunction") | _wired("AnalyticsFunction")


def test_openapi_refs_all_resolve_and_bodies_forbid_unknown_fields() -> None:
    with Client(_app()) as client:
        doc = json.loads(client.http.get("/openapi.json").body)
    schemas = doc["components"]["schemas"]
    refs = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"].rsplit("/", 1)[-1])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    assert refs <= set(schemas), refs - set(schemas)
    post = doc["paths"]["/courses"]["post"]
    body_schema = schemas[post["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]]
    assert body_schema["additionalProperties"] is False
    assert body_schema["properties"]["title"]["maxLength"] == 200
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])
    limit = next(p for p in doc["paths"]["/courses"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 100


def test_the_api_function_does_not_import_the_ai_or_kafka_stack() -> None:
    """Import the handler in a fresh process, serve requests (an open one and a token check), then
    look at what got imported: neither needs S3 (boto3) nor password hashing (argon2) either
    (what each function loads late: tests/unit/foundation/test_lazy_imports.py)."""
    code = (
        "import sys; sys.path[:0] = ['functions/api', 'shared'];"
        "import app; from chalice.test import Client;"
        "c = Client(app.app); assert c.http.get('/openapi.json').status_code == 200;"
        "assert c.http.get('/me', headers={'authorization': 'Bearer x'}).status_code == 401;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('kafka', 'onnxruntime', 'numpy', 'langchain', 'langchain_core', 'langchain_groq', 'tokenizers', 'torch',"
        " 'boto3', 'argon2'));"
        "print('BAD=' + ','.join(bad))"
    )
    env = {"PATH": "/usr/bin:/bin", "ASSETS_BUCKET": "b", "CERTIFICATES_BUCKET": "c",
           "JWT_SECRET": "x" * 40, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
           "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "BAD=", out.stdout


def test_app_py_only_registers_blueprints() -> None:
    source = (Path(ROOT) / "functions" / "api" / "app.py").read_text()
    skip = ("#", '"""', "from ", "import ")
    statements = [line for line in source.splitlines() if line and not line.startswith(skip)]
    allowed = ("app = Chalice(", "app.register_blueprint(", "app.register_middleware(", "coldstart.loaded()")
    assert all(s.startswith(allowed) for s in statements), statements


def test_openapi_links_chain_a_created_resource_to_the_operations_that_name_it() -> None:
    with Client(_app()) as client:
        doc = json.loads(client.http.get("/openapi.json").body)
    ids = {op["operationId"]: (path, method) for path, ops in doc["paths"].items() for method, op in ops.items()}

    def links(path: str, status: str) -> dict[str, dict[str, str]]:
        return {k: v["parameters"] for k, v in doc["paths"][path]["post"]["responses"][status]["links"].items()}

    created_course = links("/courses", "201")
    assert created_course["get__courses_course_id"] == {"course_id": "$response.body#/id"}
    assert created_course["post__courses_course_id_modules"] == {"course_id": "$response.body#/id"}
    assert links("/courses/{course_id}/modules", "201")["post__courses_course_id_modules_module_id_lessons"] == {
        "course_id": "$request.path.course_id", "module_id": "$response.body#/id"}
    assert links("/courses/{course_id}/assets", "201")["delete__courses_course_id_assets_asset_id"] == {
        "course_id": "$request.path.course_id", "asset_id": "$response.body#/asset/id"}
    assert links("/courses/{course_id}/enrollments", "201")["get__enrollments_enrollment_id_progress"] == {
        "enrollment_id": "$response.body#/id"}
    ask = links("/courses/{course_id}/assistant/ask", "200")
    feedback = "post__courses_course_id_assistant_conversations_conversation_id_messages_message_id_feedback"
    assert ask[feedback] == {"course_id": "$request.path.course_id",
                             "conversation_id": "$response.body#/conversation_id",
                             "message_id": "$response.body#/message_id"}
    # every link names an operation of the document and only that operation's path parameters
    for ops in doc["paths"].values():
        for op in ops.values():
            for response in op["responses"].values():
                for link in response.get("links", {}).values():
                    target_path, _ = ids[link["operationId"]]
                    assert set(link["parameters"]) <= {p.strip("{}") for p in target_path.split("/") if "{" in p}
