"""The route x actor matrix: every HTTP operation the functions serve (the API's LMS routes and
certificate and notification blueprints, AssistantFunction's and AnalyticsFunction's routes) x
{anonymous, learner enrolled, learner not enrolled, instructor owner, other instructor, admin},
through the local gateway, as a browser or API client reaches them.
`test_the_matrix_covers_every_operation` keeps it complete against /openapi.json (which its own test
keeps equal to the routes). Routes that change state get fresh targets per cell, so each cell is
independent of the others."""

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


def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:300]}"
    return r.json() if r.content else None


@dataclass
class World:
    client: httpx.Client
    tokens: dict[str, str | None]
    learner_email: str
    course_id: str              # published (a text lesson on the Moon); the learner is enrolled and certified
    lesson_id: str
    module_id: str
    other_course_id: str        # the owner's second course; the learner is enrolled in both
    draft_id: str               # the owner's unpublished course
    asset_id: str               # in course_id's published version
    enrollment_id: str          # the learner's, in course_id
    conversation_id: str        # the learner's, in course_id
    answer_id: str              # the assistant's answer in that conversation
    code: str                   # the learner's certificate for course_id
    notification_id: str        # the learner's (enrolment confirmed in course_id)
    unsubscribe_token: str      # the learner's, for course_updated emails
    revocable: Callable[[], str]  # a fresh certificate of the learner (for revoke cells)
    #: a new account of the actor's role, signed in (None for anonymous): for the operations that
    #: end the caller's sessions, so the actors' own tokens stay live for the other cells
    throwaway: Callable[[str], str | None] = lambda actor: None
    #: a fresh emailed link (password_reset / email_verification) of a new account, as the
    #: notifications function signs it
    link: Callable[[str], str] = lambda purpose: ""

    def call(self, actor: str, method: str, path: str, body: Any = None, token: str | None = None) -> httpx.Response:
        token = token or self.tokens[actor]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if path.startswith(("/unsubscribe/", "/auth/password-reset/", "/auth/verify-email/")) and body is not None:
            # form-encoded pages (RFC 8058's one-click POST, the emailed links' forms)
            return self.client.request(method, path, data=body, headers=headers)
        return self.client.request(method, path, json=body, headers=headers)

    def owner(self, method: str, path: str, body: Any = None, status: int = 201) -> Any:
        return _ok(self.call("owner", method, path, body), status)

    def published_course(self, body: str = "Body") -> tuple[str, str]:
        course = self.owner("POST", "/courses", {"title": "Matrix " + secrets.token_hex(3)})
        m = self.owner("POST", f"/courses/{course['id']}/modules", {"title": "M"})
        lesson = self.owner("POST", f"/courses/{course['id']}/modules/{m['id']}/lessons",
                            {"title": "L", "kind": "text", "body": body})
        self.owner("POST", f"/courses/{course['id']}/publish")
        return str(course["id"]), str(lesson["id"])

    def fresh_enrollment(self) -> tuple[str, str]:
        course_id, lesson_id = self.published_course()
        e = _ok(self.call("learner", "POST", f"/courses/{course_id}/enrollments"), 201)
        return str(e["id"]), lesson_id

    def fresh_module(self) -> str:
        return str(self.owner("POST", f"/courses/{self.course_id}/modules", {"title": "M"})["id"])

    def fresh_lesson(self) -> tuple[str, str]:
        mid = self.fresh_module()
        x = self.owner("POST", f"/courses/{self.course_id}/modules/{mid}/lessons",
                       {"title": "L", "kind": "text", "body": "b"})
        return mid, str(x["id"])

    def fresh_refresh_token(self) -> str:
        r = self.client.post("/auth/login", json={"email": self.learner_email, "password": PASSWORD})
        return str(_ok(r)["refresh_token"])

    def fresh_user_id(self) -> str:
        email = f"mx-target-{secrets.token_hex(4)}@example.com"
        r = self.client.post("/auth/register", json={"email": email, "password": PASSWORD, "name": "Target"})
        return str(_ok(r, 201)["user"]["id"])

    def fresh_asset(self) -> str:
        return str(self.owner("POST", f"/courses/{self.course_id}/assets",
                              {"filename": "a.txt", "content_type": "text/plain", "size": 3})["asset"]["id"])


def _sign_in(client: httpx.Client, role: str) -> tuple[str, str]:
    email = f"mx-{role}-{secrets.token_hex(4)}@example.com"
    assert client.post("/auth/register", json={"email": email, "password": PASSWORD, "name": role.title(),
                                               "role": role}).status_code == 201
    token = str(client.post("/auth/login", json={"email": email, "password": PASSWORD}).json()["access_token"])
    return token, email


@pytest.fixture(scope="module")
def world(gateway: Gateway, template: Any, function_env: dict[str, str], database_url: str) -> Iterator[World]:
    c = gateway.client
    learner, learner_email = _sign_in(c, "student")
    tokens: dict[str, str | None] = {"anonymous": None, "learner": learner,
                                     "other_learner": _sign_in(c, "student")[0],
                                     "owner": _sign_in(c, "instructor")[0],
                                     "other_instructor": _sign_in(c, "instructor")[0],
                                     "admin": gateway.tokens["admin"]}

    def h(actor: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[actor]}"}

    mp = pytest.MonkeyPatch()
    apply_function_env(mp, template, function_env)
    certificates = load_function_module("certificates")
    notifications = load_function_module("notifications")
    analytics = load_function_module("analytics")
    reset_all()

    class Ctx:
        function_name, memory_limit_in_mb, aws_request_id = "ConsumerFunction", 1024, "r"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ConsumerFunction"

    def certified(course_id: str, lesson_id: str) -> str:
        """The learner enrols, completes the course, and the real CertificatesFunction issues."""
        from testkit.msk import msk_event

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
            out = certificates.handler(msk_event([event], f"{function_env['TOPIC_PREFIX']}.enrollment"), Ctx())
            assert out == {"batchItemFailures": []}, out
            cert = conn.execute("SELECT code FROM lms.certificates WHERE enrollment_id = %s", (e["id"],)).fetchone()
            assert cert is not None
            return str(cert["code"])

    def notified(enrollment_id: str) -> str:
        """The real NotificationsFunction handles the enrolment's event: the learner's notification."""
        from smartcourse.events import EventEnvelope
        from testkit.msk import msk_event

        with psycopg.connect(database_url, row_factory=dict_row) as conn:
            row = conn.execute("SELECT payload FROM lms.outbox WHERE event_type = 'smartcourse.enrollment.created.v1' "
                               "AND aggregate_id = %s", (enrollment_id,)).fetchone()
            assert row is not None
            event = EventEnvelope.model_validate(row["payload"])
            out = notifications.handler(msk_event([event], f"{function_env['TOPIC_PREFIX']}.enrollment"), Ctx())
            assert out == {"batchItemFailures": []}, out
            found = conn.execute("SELECT id FROM notify.notifications WHERE dedupe_key = %s",
                                 (f"enrollment:{enrollment_id}",)).fetchone()
            assert found is not None
            return str(found["id"])

    def analysed(course_id: str) -> None:
        """The real AnalyticsFunction consumes the course's events (publish, enrolments, progress)."""
        from smartcourse.events import EventEnvelope
        from testkit.msk import msk_event

        with psycopg.connect(database_url, row_factory=dict_row) as conn:
            rows = conn.execute("SELECT payload FROM lms.outbox ORDER BY seq").fetchall()
        events = [EventEnvelope.model_validate(r["payload"]) for r in rows
                  if r["payload"]["data"].get("course_id") == course_id]
        for topic in ("course", "enrollment"):
            batch = [e for e in events if e.aggregate_type == topic]
            out = analytics.handler(msk_event(batch, f"{function_env['TOPIC_PREFIX']}.{topic}",
                                              first_offset=uuid.uuid4().int % 10**9), Ctx())
            assert out == {"batchItemFailures": []}, out

    def unsubscribe_token(user_id: str) -> str:
        """What NotificationsFunction puts in the learner's notification emails (same key: JWT_SECRET)."""
        from datetime import UTC, datetime

        from smartcourse.notifications import tokens as unsubscribe

        return unsubscribe.sign(function_env["JWT_SECRET"].encode(),
                                unsubscribe.Unsubscribe(uuid.UUID(user_id), "course_updated", "email"),
                                datetime.now(UTC))

    roles = {"learner": "student", "other_learner": "student", "owner": "instructor", "other_instructor": "instructor"}

    def throwaway(actor: str) -> str | None:
        if actor == "anonymous":
            return None
        if actor == "admin":
            from smartcourse.lms.cli import create_admin

            email = f"mx-admin-{secrets.token_hex(4)}@example.com"
            create_admin(database_url, email, "Admin", PASSWORD)
            return str(_ok(c.post("/auth/login", json={"email": email, "password": PASSWORD}))["access_token"])
        return _sign_in(c, roles[actor])[0]

    def link(purpose: str) -> str:
        from datetime import UTC, datetime, timedelta

        from smartcourse.accounts import domain as accounts
        from smartcourse.accounts import repository as accounts_repo

        email = f"mx-link-{secrets.token_hex(4)}@example.com"
        user = _ok(c.post("/auth/register", json={"email": email, "password": PASSWORD, "name": "L"}), 201)["user"]
        with psycopg.connect(database_url, row_factory=dict_row) as conn:
            link_id = accounts_repo.insert_link(conn, purpose, email, uuid.UUID(user["id"]),
                                                datetime.now(UTC) + timedelta(minutes=30))
        return accounts.sign_link(function_env["JWT_SECRET"].encode(), purpose, link_id)  # type: ignore[arg-type]

    learner_id = str(_ok(c.get("/me", headers=h("learner")))["user"]["id"])
    try:
        w = World(c, tokens, learner_email, "", "", "", "", "", "", "", "", "", "", "", "", lambda: "")
        # The main course: a module with the Moon lesson and a document lesson on an asset, published.
        course = w.owner("POST", "/courses", {"title": "Matrix " + secrets.token_hex(3)})
        cid = str(course["id"])
        m = w.owner("POST", f"/courses/{cid}/modules", {"title": "M"})
        lesson = w.owner("POST", f"/courses/{cid}/modules/{m['id']}/lessons",
                         {"title": "L", "kind": "text", "body": "The Moon orbits the Earth."})
        asset = w.owner("POST", f"/courses/{cid}/assets",
                        {"filename": "a.pdf", "content_type": "application/pdf", "size": 3})["asset"]
        w.owner("POST", f"/courses/{cid}/modules/{m['id']}/lessons",
                {"title": "Doc", "kind": "document", "asset_id": asset["id"], "required": False})
        w.owner("POST", f"/courses/{cid}/publish")
        w.course_id, w.lesson_id, w.module_id, w.asset_id = cid, str(lesson["id"]), str(m["id"]), str(asset["id"])
        w.draft_id = str(w.owner("POST", "/courses", {"title": "Draft"})["id"])
        w.code = certified(cid, w.lesson_id)
        w.enrollment_id = str(_ok(c.get("/me/enrollments", headers=h("learner")))["items"][0]["id"])
        w.notification_id = notified(w.enrollment_id)
        analysed(cid)
        w.unsubscribe_token = unsubscribe_token(learner_id)
        w.other_course_id, _ = w.published_course()
        _ok(c.post(f"/courses/{w.other_course_id}/enrollments", headers=h("learner")), 201)
        asked = _ok(c.post(f"/courses/{cid}/assistant/ask", json={"question": "What does the Moon orbit?"},
                           headers=h("learner")))
        w.conversation_id, w.answer_id = asked["conversation_id"], asked["message_id"]
        w.revocable = lambda: certified(*w.published_course())
        w.throwaway = throwaway
        w.link = link
        yield w
    finally:
        mp.undo()


def _register(w: World) -> tuple[str, Any]:
    return "/auth/register", {"email": f"m-{secrets.token_hex(4)}@example.com", "password": PASSWORD, "name": "N"}


def _patch_lesson(w: World) -> tuple[str, Any]:
    mid, lid = w.fresh_lesson()
    return f"/courses/{w.course_id}/modules/{mid}/lessons/{lid}", {"title": "Renamed"}


def _delete_lesson(w: World) -> tuple[str, Any]:
    mid, lid = w.fresh_lesson()
    return f"/courses/{w.course_id}/modules/{mid}/lessons/{lid}", None


def _progress(w: World) -> tuple[str, Any]:
    eid, lid = w.fresh_enrollment()
    return f"/enrollments/{eid}/lessons/{lid}/progress", {"status": "in_progress", "percent": 10}


FORM = {"List-Unsubscribe": "One-Click"}
# Expected status per actor, in ACTORS order.
OPEN = (200,) * 6
CREATED_OPEN = (201,) * 6
SIGNED_IN = (401, 200, 200, 200, 200, 200)
SIGNED_IN_NO_CONTENT = (401, 204, 204, 204, 204, 204)
ADMIN_ONLY = (401, 403, 403, 403, 403, 200)
EDIT = (401, 403, 403, 200, 403, 200)
EDIT_CREATE = (401, 403, 403, 201, 403, 201)
EDIT_DELETE = (401, 403, 403, 204, 403, 204)
LEARNER_OWN = (401, 200, 404, 404, 404, 200)
STAFF_AND_LEARNER = (401, 200, 403, 200, 403, 200)

Factory = Callable[[World], tuple[str, Any]]
CASES: list[tuple[str, str, Factory, tuple[int, ...]]] = [
    # ApiFunction: LMS
    ("GET", "/health", lambda w: ("/health", None), OPEN),
    ("GET", "/openapi.json", lambda w: ("/openapi.json", None), OPEN),
    ("POST", "/auth/register", _register, CREATED_OPEN),
    ("POST", "/auth/login", lambda w: ("/auth/login", {"email": w.learner_email, "password": PASSWORD}), OPEN),
    ("GET", "/me", lambda w: ("/me", None), SIGNED_IN),
    ("GET", "/me/export", lambda w: ("/me/export", None), SIGNED_IN),
    ("DELETE", "/me", lambda w: ("/me", {"password": PASSWORD, "certificates": "keep"}), SIGNED_IN_NO_CONTENT),
    ("POST", "/auth/refresh", lambda w: ("/auth/refresh", {"refresh_token": w.fresh_refresh_token()}), OPEN),
    # These end the caller's sessions (DELETE /me, the account): each actor calls them as a new
    # account of its role (OWN_SESSIONS).
    ("POST", "/auth/logout", lambda w: ("/auth/logout", {}), SIGNED_IN_NO_CONTENT),
    ("POST", "/auth/logout-all", lambda w: ("/auth/logout-all", {}), SIGNED_IN_NO_CONTENT),
    ("POST", "/me/password",
     lambda w: ("/me/password", {"current_password": PASSWORD, "new_password": "another-long-password"}), SIGNED_IN),
    ("POST", "/auth/password-reset", lambda w: ("/auth/password-reset", {"email": w.learner_email}), (202,) * 6),
    # emailed links: holding the link is the proof, whoever opens it (each cell a fresh link of a new account)
    ("GET", "/auth/password-reset/{token}", lambda w: (f"/auth/password-reset/{w.link('password_reset')}", None),
     OPEN),
    ("POST", "/auth/password-reset/{token}",
     lambda w: (f"/auth/password-reset/{w.link('password_reset')}", {"new_password": "a-reset-password"}), OPEN),
    ("POST", "/me/email-verification", lambda w: ("/me/email-verification", {}), (401,) + (202,) * 5),
    # the caller's own phone number (a fresh number per cell: at most 3 codes an hour per number)
    ("PUT", "/me/phone", lambda w: ("/me/phone", {"phone": f"+1555{secrets.randbelow(10**7):07d}"}), SIGNED_IN),
    ("POST", "/me/phone/verify", lambda w: ("/me/phone/verify", {"code": "000000"}), (401,) + (422,) * 5),
    ("DELETE", "/me/phone", lambda w: ("/me/phone", None), SIGNED_IN_NO_CONTENT),
    ("GET", "/auth/verify-email/{token}", lambda w: (f"/auth/verify-email/{w.link('email_verification')}", None),
     OPEN),
    ("POST", "/auth/verify-email/{token}",
     lambda w: (f"/auth/verify-email/{w.link('email_verification')}", {"confirm": "yes"}), OPEN),
    ("GET", "/admin/users", lambda w: ("/admin/users?q=mx-", None), ADMIN_ONLY),
    ("PATCH", "/admin/users/{user_id}", lambda w: (f"/admin/users/{w.fresh_user_id()}", {"disabled": False}),
     ADMIN_ONLY),
    ("GET", "/admin/audit", lambda w: ("/admin/audit", None), ADMIN_ONLY),
    ("POST", "/courses", lambda w: ("/courses", {"title": "New"}), (401, 403, 403, 201, 201, 201)),
    ("GET", "/courses", lambda w: ("/courses", None), SIGNED_IN),
    ("GET", "/courses/{course_id}", lambda w: (f"/courses/{w.draft_id}", None), (401, 404, 404, 200, 404, 200)),
    ("PATCH", "/courses/{course_id}",
     lambda w: (f"/courses/{w.course_id}", {"description": secrets.token_hex(3)}), EDIT),
    ("POST", "/courses/{course_id}/publish",
     lambda w: (f"/courses/{w.published_course()[0]}/publish", None), EDIT_CREATE),
    ("POST", "/courses/{course_id}/modules", lambda w: (f"/courses/{w.course_id}/modules", {"title": "M"}),
     EDIT_CREATE),
    ("PATCH", "/courses/{course_id}/modules/{module_id}",
     lambda w: (f"/courses/{w.course_id}/modules/{w.fresh_module()}", {"title": "R"}), EDIT),
    ("DELETE", "/courses/{course_id}/modules/{module_id}",
     lambda w: (f"/courses/{w.course_id}/modules/{w.fresh_module()}", None), EDIT_DELETE),
    ("POST", "/courses/{course_id}/modules/{module_id}/lessons",
     lambda w: (f"/courses/{w.course_id}/modules/{w.module_id}/lessons",
                {"title": "L", "kind": "text", "body": "b", "required": False}), EDIT_CREATE),
    ("PATCH", "/courses/{course_id}/modules/{module_id}/lessons/{lesson_id}", _patch_lesson, EDIT),
    ("DELETE", "/courses/{course_id}/modules/{module_id}/lessons/{lesson_id}", _delete_lesson, EDIT_DELETE),
    ("POST", "/courses/{course_id}/assets",
     lambda w: (f"/courses/{w.course_id}/assets", {"filename": "x.md", "content_type": "text/markdown", "size": 9}),
     EDIT_CREATE),
    ("GET", "/courses/{course_id}/assets", lambda w: (f"/courses/{w.course_id}/assets", None), EDIT),
    ("DELETE", "/courses/{course_id}/assets/{asset_id}",
     lambda w: (f"/courses/{w.course_id}/assets/{w.fresh_asset()}", None), EDIT_DELETE),
    ("GET", "/courses/{course_id}/assets/{asset_id}/download",
     lambda w: (f"/courses/{w.course_id}/assets/{w.asset_id}/download", None), (401, 200, 403, 200, 403, 200)),
    ("POST", "/courses/{course_id}/enrollments",
     lambda w: (f"/courses/{w.published_course()[0]}/enrollments", None), (401, 201, 201, 403, 201, 201)),
    ("GET", "/me/enrollments", lambda w: ("/me/enrollments", None), SIGNED_IN),
    ("DELETE", "/enrollments/{enrollment_id}", lambda w: (f"/enrollments/{w.fresh_enrollment()[0]}", None),
     LEARNER_OWN),
    ("PUT", "/enrollments/{enrollment_id}/lessons/{lesson_id}/progress", _progress, LEARNER_OWN),
    ("GET", "/enrollments/{enrollment_id}/progress",
     lambda w: (f"/enrollments/{w.enrollment_id}/progress", None), (401, 200, 404, 200, 404, 200)),
    # ApiFunction: the certificate blueprint
    ("GET", "/me/certificates", lambda w: ("/me/certificates", None), SIGNED_IN),
    ("GET", "/certificates/{code}", lambda w: (f"/certificates/{w.code}", None), OPEN),
    # 403, not 404: a code's existence is public anyway (the verify page); the PDF is the owner's.
    ("GET", "/certificates/{code}/download", lambda w: (f"/certificates/{w.code}/download", None),
     (401, 200, 403, 403, 403, 200)),
    ("POST", "/certificates/{code}/revoke",
     lambda w: (f"/certificates/{w.revocable()}/revoke", {"reason": "matrix check"}),
     (401, 403, 403, 403, 403, 200)),
    # ApiFunction: the notifications blueprint (a caller's own inbox and preferences; admins too)
    ("GET", "/me/notifications", lambda w: ("/me/notifications", None), SIGNED_IN),
    ("POST", "/me/notifications/{notification_id}/read",
     lambda w: (f"/me/notifications/{w.notification_id}/read", None), (401, 200, 404, 404, 404, 404)),
    ("POST", "/me/notifications/read-all", lambda w: ("/me/notifications/read-all", None), SIGNED_IN),
    ("GET", "/me/notification-preferences", lambda w: ("/me/notification-preferences", None), SIGNED_IN),
    ("PUT", "/me/notification-preferences",
     lambda w: ("/me/notification-preferences", {"types": [{"type": "course_updated",
                                                            "channels": {"email": {"cadence": "weekly"}}}]}),
     SIGNED_IN),
    # one-click unsubscribe: the token is the proof, whoever sends it (no sign-in needed)
    ("GET", "/unsubscribe/{token}", lambda w: (f"/unsubscribe/{w.unsubscribe_token}", None), OPEN),
    ("POST", "/unsubscribe/{token}", lambda w: (f"/unsubscribe/{w.unsubscribe_token}", FORM), OPEN),
    # AssistantFunction
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
    # AnalyticsFunction: reports for the course's instructor and admins; time on task for its learners
    ("GET", "/courses/{course_id}/analytics/overview",
     lambda w: (f"/courses/{w.course_id}/analytics/overview", None), EDIT),
    ("GET", "/courses/{course_id}/analytics/lessons",
     lambda w: (f"/courses/{w.course_id}/analytics/lessons", None), EDIT),
    ("GET", "/courses/{course_id}/analytics/learners",
     lambda w: (f"/courses/{w.course_id}/analytics/learners?sort=percent", None), EDIT),
    ("GET", "/courses/{course_id}/analytics/at-risk",
     lambda w: (f"/courses/{w.course_id}/analytics/at-risk", None), EDIT),
    ("GET", "/courses/{course_id}/analytics/content-gaps",
     lambda w: (f"/courses/{w.course_id}/analytics/content-gaps", None), EDIT),
    ("GET", "/admin/analytics/overview", lambda w: ("/admin/analytics/overview", None), ADMIN_ONLY),
    ("GET", "/courses/{course_id}/analytics/xapi",
     lambda w: (f"/courses/{w.course_id}/analytics/xapi?limit=5", None), EDIT),
    ("POST", "/courses/{course_id}/lessons/{lesson_id}/heartbeat",
     lambda w: (f"/courses/{w.course_id}/lessons/{w.lesson_id}/heartbeat", None),
     (401, 200, 403, 403, 403, 403)),  # only an enrolled learner spends time on a lesson
]


# Called as a new account of the actor's role: they end the caller's sessions, or (PUT /me/phone: 3
# codes an hour per account) hit a per-account limit the fuzzing of the same accounts may have used up.
OWN_SESSIONS = {("POST", "/auth/logout"), ("POST", "/auth/logout-all"), ("POST", "/me/password"), ("DELETE", "/me"),
                ("PUT", "/me/phone")}


def test_the_matrix_covers_every_operation(gateway: Gateway) -> None:
    documented = {(method.upper(), path) for path, ops in gateway.client.get("/openapi.json").json()["paths"].items()
                  for method in ops}
    assert {(m, p) for m, p, _, _ in CASES} == documented


@pytest.mark.parametrize(("method", "route", "factory", "expected"), CASES, ids=[f"{m} {p}" for m, p, _, _ in CASES])
def test_route_answers_each_actor_as_expected(world: World, method: str, route: str, factory: Factory,
                                              expected: tuple[int, ...]) -> None:
    got = {}
    for actor in ACTORS:
        path, body = factory(world)
        own = world.throwaway(actor) if (method, route) in OWN_SESSIONS else None
        r = world.call(actor, method, path, body, token=own)
        got[actor] = r.status_code
        if r.status_code >= 400:
            error = r.json()["error"]
            assert error["code"] and error["message"], (actor, r.text)
    assert got == dict(zip(ACTORS, expected, strict=True))


def test_my_certificates_lists_only_my_own(world: World) -> None:
    for actor in ("other_learner", "owner", "other_instructor", "admin"):
        items = world.call(actor, "GET", "/me/certificates").json()["items"]
        assert world.code not in {i["code"] for i in items}, actor
    assert world.code in {i["code"] for i in world.call("learner", "GET", "/me/certificates").json()["items"]}


def test_a_conversation_is_not_readable_by_another_enrolled_learner_nor_through_another_course(world: World) -> None:
    # Another learner enrolled in the same course cannot read or rate the learner's conversation.
    classmate, _ = _sign_in(world.client, "student")
    h = {"Authorization": f"Bearer {classmate}"}
    _ok(world.client.post(f"/courses/{world.course_id}/enrollments", headers=h), 201)
    conv = f"/courses/{world.course_id}/assistant/conversations/{world.conversation_id}"
    assert world.client.get(conv, headers=h).status_code == 404
    assert world.client.post(f"{conv}/messages/{world.answer_id}/feedback", json={"helpful": False},
                             headers=h).status_code == 404
    # The learner's own conversation id, asked for through another course they are enrolled in, is not
    # found (read), or names no conversation of theirs there (ask: 422, the course itself exists).
    other = f"/courses/{world.other_course_id}/assistant/conversations/{world.conversation_id}"
    assert world.call("learner", "GET", other).status_code == 404
    assert world.call("learner", "POST", f"/courses/{world.other_course_id}/assistant/ask",
                      {"question": "What does the Moon orbit?",
                       "conversation_id": world.conversation_id}).status_code == 422
