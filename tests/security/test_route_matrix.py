"""The assistant and certificate routes x {anonymous, learner enrolled, learner not enrolled,
instructor owner, other instructor, admin}, through the local gateway (the LMS routes have their
matrix in tests/integration/lms/test_authorization_matrix.py; it leaves the certificate blueprint
to its owner, and AssistantFunction is a separate function, so both are here)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from smartcourse.container import reset_all
from smartcourse.events import new_event
from tests.conftest import apply_function_env, load_function_module
from tests.security.conftest import PASSWORD, Gateway

pytestmark = pytest.mark.integration

ACTORS = ("anonymous", "learner", "other_learner", "owner", "other_instructor", "admin")


@dataclass
class World:
    client: httpx.Client
    tokens: dict[str, str | None]
    course_id: str
    other_course_id: str        # the owner's second course; the learner is enrolled in both
    conversation_id: str        # the learner's, in course_id
    answer_id: str              # the assistant's answer in that conversation
    code: str                   # the learner's certificate for course_id
    revocable: Callable[[], str]  # a fresh certificate of the learner (for revoke cells)

    def call(self, actor: str, method: str, path: str, body: Any = None) -> httpx.Response:
        token = self.tokens[actor]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.request(method, path, json=body, headers=headers)


def _sign_in(client: httpx.Client, role: str) -> str:
    email = f"mx-{role}-{secrets.token_hex(4)}@example.com"
    assert client.post("/auth/register", json={"email": email, "password": PASSWORD, "name": role.title(),
                                               "role": role}).status_code == 201
    return str(client.post("/auth/login", json={"email": email, "password": PASSWORD}).json()["access_token"])


def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:300]}"
    return r.json() if r.content else None


@pytest.fixture(scope="module")
def world(gateway: Gateway, template: Any, function_env: dict[str, str], database_url: str) -> Iterator[World]:
    c = gateway.client
    tokens: dict[str, str | None] = {"anonymous": None, "learner": _sign_in(c, "student"),
                                     "other_learner": _sign_in(c, "student"), "owner": _sign_in(c, "instructor"),
                                     "other_instructor": _sign_in(c, "instructor"), "admin": gateway.tokens["admin"]}

    def h(actor: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[actor]}"}

    def published_course() -> tuple[str, str]:
        course = _ok(c.post("/courses", json={"title": "Matrix " + secrets.token_hex(3)}, headers=h("owner")), 201)
        m = _ok(c.post(f"/courses/{course['id']}/modules", json={"title": "M"}, headers=h("owner")), 201)
        lesson = _ok(c.post(f"/courses/{course['id']}/modules/{m['id']}/lessons", headers=h("owner"),
                            json={"title": "L", "kind": "text", "body": "The Moon orbits the Earth."}), 201)
        _ok(c.post(f"/courses/{course['id']}/publish", headers=h("owner")), 201)
        return str(course["id"]), str(lesson["id"])

    mp = pytest.MonkeyPatch()
    apply_function_env(mp, template, function_env)
    certificates = load_function_module("certificates")
    reset_all()

    def certified(course_id: str, lesson_id: str) -> str:
        """The learner enrols, completes the course, and the real CertificatesFunction issues."""
        from tests.integration.certificates.conftest import msk_event

        e = _ok(c.post(f"/courses/{course_id}/enrollments", headers=h("learner")), 201)
        _ok(c.put(f"/enrollments/{e['id']}/lessons/{lesson_id}/progress", json={"status": "completed"},
                  headers=h("learner")))
        with psycopg.connect(database_url, row_factory=dict_row) as conn:
            row = conn.execute("SELECT user_id, course_version, completed_at FROM lms.enrollments WHERE id = %s",
                               (e["id"],)).fetchone()
            assert row is not None and row["completed_at"] is not None, row
            event = new_event("course.completed", uuid.UUID(e["id"]),
                              {"enrollment_id": e["id"], "course_id": course_id,
                               "course_version": row["course_version"], "user_id": str(row["user_id"]),
                               "completed_at": row["completed_at"].isoformat()},
                              correlation_id="matrix", aggregate_type="enrollment")

            class Ctx:
                function_name, memory_limit_in_mb, aws_request_id = "CertificatesFunction", 1024, "r"
                invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:CertificatesFunction"

            out = certificates.handler(msk_event([event], f"{function_env['TOPIC_PREFIX']}.enrollment"), Ctx())
            assert out == {"batchItemFailures": []}, out
            cert = conn.execute("SELECT code FROM lms.certificates WHERE enrollment_id = %s", (e["id"],)).fetchone()
            assert cert is not None
            return str(cert["code"])

    try:
        course_id, lesson_id = published_course()
        code = certified(course_id, lesson_id)
        other_course_id, _ = published_course()
        _ok(c.post(f"/courses/{other_course_id}/enrollments", headers=h("learner")), 201)
        asked = _ok(c.post(f"/courses/{course_id}/assistant/ask", json={"question": "What does the Moon orbit?"},
                           headers=h("learner")))
        yield World(c, tokens, course_id, other_course_id, asked["conversation_id"], asked["message_id"], code,
                    lambda: certified(*published_course()))
    finally:
        mp.undo()


# Expected status per actor, in ACTORS order.
STAFF_AND_LEARNER = (401, 200, 403, 200, 403, 200)
SIGNED_IN = (401, 200, 200, 200, 200, 200)
PUBLIC = (200, 200, 200, 200, 200, 200)

Factory = Callable[[World], tuple[str, Any]]
CASES: list[tuple[str, str, Factory, tuple[int, ...]]] = [
    ("POST", "/courses/{course_id}/assistant/ask",
     lambda w: (f"/courses/{w.course_id}/assistant/ask", {"question": "What does the Moon orbit?"}),
     STAFF_AND_LEARNER),
    ("GET", "/courses/{course_id}/search", lambda w: (f"/courses/{w.course_id}/search?q=Moon", None),
     STAFF_AND_LEARNER),
    ("GET", "/courses/{course_id}/assistant/status", lambda w: (f"/courses/{w.course_id}/assistant/status", None),
     STAFF_AND_LEARNER),
    ("GET", "/courses/{course_id}/assistant/conversations/{conversation_id}",
     lambda w: (f"/courses/{w.course_id}/assistant/conversations/{w.conversation_id}", None),
     STAFF_AND_LEARNER),
    ("POST", "/courses/{course_id}/assistant/conversations/{conversation_id}/messages/{message_id}/feedback",
     lambda w: (f"/courses/{w.course_id}/assistant/conversations/{w.conversation_id}/messages/{w.answer_id}"
                "/feedback", {"helpful": True}),
     (401, 200, 403, 404, 403, 404)),  # only the asker rates an answer; staff read, never rate
    ("GET", "/me/certificates", lambda w: ("/me/certificates", None), SIGNED_IN),
    ("GET", "/certificates/{code}", lambda w: (f"/certificates/{w.code}", None), PUBLIC),
    # 403, not 404: a code's existence is public anyway (the verify page); the PDF is the owner's.
    ("GET", "/certificates/{code}/download", lambda w: (f"/certificates/{w.code}/download", None),
     (401, 200, 403, 403, 403, 200)),
    ("POST", "/certificates/{code}/revoke",
     lambda w: (f"/certificates/{w.revocable()}/revoke", {"reason": "matrix check"}),
     (401, 403, 403, 403, 403, 200)),
]


@pytest.mark.parametrize(("method", "route", "factory", "expected"), CASES, ids=[f"{m} {p}" for m, p, _, _ in CASES])
def test_route_answers_each_actor_as_expected(world: World, method: str, route: str, factory: Factory,
                                              expected: tuple[int, ...]) -> None:
    got = {}
    for actor in ACTORS:
        path, body = factory(world)
        r = world.call(actor, method, path, body)
        got[actor] = r.status_code
        if r.status_code >= 400:
            assert r.json()["error"]["code"], (actor, r.text)
    assert got == dict(zip(ACTORS, expected, strict=True))


def test_my_certificates_lists_only_my_own(world: World) -> None:
    for actor in ("other_learner", "owner", "other_instructor", "admin"):
        items = world.call(actor, "GET", "/me/certificates").json()["items"]
        assert world.code not in {i["code"] for i in items}, actor
    assert world.code in {i["code"] for i in world.call("learner", "GET", "/me/certificates").json()["items"]}


def test_a_conversation_is_not_readable_by_another_enrolled_learner_nor_through_another_course(world: World) -> None:
    # Another learner enrolled in the same course cannot read or rate the learner's conversation.
    classmate = _sign_in(world.client, "student")
    h = {"Authorization": f"Bearer {classmate}"}
    _ok(world.client.post(f"/courses/{world.course_id}/enrollments", headers=h), 201)
    conv = f"/courses/{world.course_id}/assistant/conversations/{world.conversation_id}"
    assert world.client.get(conv, headers=h).status_code == 404
    assert world.client.post(f"{conv}/messages/{world.answer_id}/feedback", json={"helpful": False},
                             headers=h).status_code == 404
    # The learner's own conversation id, asked for through another course they are enrolled in, is not found.
    other = f"/courses/{world.other_course_id}/assistant/conversations/{world.conversation_id}"
    assert world.call("learner", "GET", other).status_code == 404
    assert world.call("learner", "POST", f"/courses/{world.other_course_id}/assistant/ask",
                      {"question": "What does the Moon orbit?",
                       "conversation_id": world.conversation_id}).status_code == 404
