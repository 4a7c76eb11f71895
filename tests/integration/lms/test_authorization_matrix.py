"""Every route x {anonymous, learner, other learner, instructor owner, other instructor, admin}.

The learner is enrolled in the course under test; the other learner is not. Routes that change
state get fresh targets per cell, so each cell is independent of the others."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client

from tests.conftest import apply_function_env, load_function_module
from tests.integration.lms.conftest import PASSWORD, Api, admin_token

pytestmark = pytest.mark.integration

ACTORS = ("anonymous", "learner", "other_learner", "owner", "other_instructor", "admin")


@dataclass
class World:
    api: Api
    tokens: dict[str, str | None]
    course: dict[str, Any]      # published, the learner enrolled
    draft_id: str
    asset_id: str               # in the published version
    enrollment_id: str
    learner_email: str

    def fresh_course(self) -> dict[str, Any]:
        return self.api.published_course(self.tokens["owner"] or "", lessons=1)

    def fresh_enrollment(self) -> tuple[str, str]:
        c = self.fresh_course()
        e = self.api.call("POST", f"/courses/{c['course']['id']}/enrollments", self.tokens["learner"])
        assert e.status == 201, e
        return e.body["id"], c["lesson_ids"][0]

    def fresh_module(self) -> str:
        cid = self.course["course"]["id"]
        return str(self.api.call("POST", f"/courses/{cid}/modules", self.tokens["owner"], {"title": "M"}).body["id"])

    def fresh_lesson(self) -> tuple[str, str]:
        cid, mid = self.course["course"]["id"], self.fresh_module()
        x = self.api.call("POST", f"/courses/{cid}/modules/{mid}/lessons", self.tokens["owner"],
                          {"title": "L", "kind": "text", "body": "b"})
        return mid, x.body["id"]

    def fresh_asset(self) -> str:
        cid = self.course["course"]["id"]
        return str(self.api.call("POST", f"/courses/{cid}/assets", self.tokens["owner"],
                                 {"filename": "a.txt", "content_type": "text/plain", "size": 3}).body["asset"]["id"])


@pytest.fixture(scope="module")
def world(function_env: dict[str, str], template: Any, provisioned: Any, database_url: str) -> Iterator[World]:
    from smartcourse.settings import load_settings

    mp = pytest.MonkeyPatch()
    apply_function_env(mp, template, function_env)
    module = load_function_module("api")
    from smartcourse.container import reset_all

    reset_all()
    try:
        with Client(module.app) as client:
            api = Api(client)
            owner, _ = api.user("instructor")
            other_instructor, _ = api.user("instructor")
            learner, learner_user = api.user("student")
            other_learner, _ = api.user("student")
            admin, _ = admin_token(database_url, module)
            tokens: dict[str, str | None] = {"anonymous": None, "learner": learner, "other_learner": other_learner,
                                             "owner": owner, "other_instructor": other_instructor, "admin": admin}
            c = api.call("POST", "/courses", owner, {"title": "Matrix"}).body
            m = api.call("POST", f"/courses/{c['id']}/modules", owner, {"title": "M"}).body
            asset = api.call("POST", f"/courses/{c['id']}/assets", owner,
                             {"filename": "a.pdf", "content_type": "application/pdf", "size": 3}).body["asset"]
            lesson = api.call("POST", f"/courses/{c['id']}/modules/{m['id']}/lessons", owner,
                              {"title": "Doc", "kind": "document", "asset_id": asset["id"]}).body
            assert api.call("POST", f"/courses/{c['id']}/publish", owner).status == 201
            course = {"course": c, "module_id": m["id"], "lesson_ids": [lesson["id"]]}
            draft = api.call("POST", "/courses", owner, {"title": "Draft"}).body["id"]
            e = api.call("POST", f"/courses/{c['id']}/enrollments", learner).body
            yield World(api, tokens, course, draft, asset["id"], e["id"], learner_user["email"])
    finally:
        mp.undo()
        load_settings.cache_clear()


Factory = Callable[[World], tuple[str, Any]]


def cid(w: World) -> str:
    return str(w.course["course"]["id"])


def _register(w: World) -> tuple[str, Any]:
    return "/auth/register", {"email": f"m-{secrets.token_hex(4)}@example.com", "password": PASSWORD, "name": "N"}


def _delete_module(w: World) -> tuple[str, Any]:
    return f"/courses/{cid(w)}/modules/{w.fresh_module()}", None


def _patch_lesson(w: World) -> tuple[str, Any]:
    mid, lid = w.fresh_lesson()
    return f"/courses/{cid(w)}/modules/{mid}/lessons/{lid}", {"title": "Renamed"}


def _delete_lesson(w: World) -> tuple[str, Any]:
    mid, lid = w.fresh_lesson()
    return f"/courses/{cid(w)}/modules/{mid}/lessons/{lid}", None


def _cancel(w: World) -> tuple[str, Any]:
    return f"/enrollments/{w.fresh_enrollment()[0]}", None


def _progress(w: World) -> tuple[str, Any]:
    eid, lid = w.fresh_enrollment()
    return f"/enrollments/{eid}/lessons/{lid}/progress", {"status": "in_progress", "percent": 10}


def _enroll(w: World) -> tuple[str, Any]:
    return f"/courses/{w.fresh_course()['course']['id']}/enrollments", None


def _publish(w: World) -> tuple[str, Any]:
    return f"/courses/{w.fresh_course()['course']['id']}/publish", None


# expected status per actor, in ACTORS order
OPEN = (200,) * 6
CREATED_OPEN = (201,) * 6
SIGNED_IN = (401, 200, 200, 200, 200, 200)
EDIT = (401, 403, 403, 200, 403, 200)
EDIT_CREATE = (401, 403, 403, 201, 403, 201)
EDIT_DELETE = (401, 403, 403, 204, 403, 204)
LEARNER_OWN = (401, 200, 404, 404, 404, 200)

CASES: list[tuple[str, str, Factory, tuple[int, ...]]] = [
    ("GET", "/health", lambda w: ("/health", None), OPEN),
    ("GET", "/openapi.json", lambda w: ("/openapi.json", None), OPEN),
    ("POST", "/auth/register", _register, CREATED_OPEN),
    ("POST", "/auth/login", lambda w: ("/auth/login", {"email": w.learner_email, "password": PASSWORD}), OPEN),
    ("GET", "/me", lambda w: ("/me", None), SIGNED_IN),
    ("POST", "/courses", lambda w: ("/courses", {"title": "New"}), (401, 403, 403, 201, 201, 201)),
    ("GET", "/courses", lambda w: ("/courses", None), SIGNED_IN),
    ("GET", "/courses/{course_id}", lambda w: (f"/courses/{w.draft_id}", None), (401, 404, 404, 200, 404, 200)),
    ("PATCH", "/courses/{course_id}", lambda w: (f"/courses/{cid(w)}", {"description": secrets.token_hex(3)}), EDIT),
    ("POST", "/courses/{course_id}/publish", _publish, EDIT_CREATE),
    ("POST", "/courses/{course_id}/modules", lambda w: (f"/courses/{cid(w)}/modules", {"title": "M"}), EDIT_CREATE),
    ("PATCH", "/courses/{course_id}/modules/{module_id}",
     lambda w: (f"/courses/{cid(w)}/modules/{w.fresh_module()}", {"title": "R"}), EDIT),
    ("DELETE", "/courses/{course_id}/modules/{module_id}", _delete_module, EDIT_DELETE),
    ("POST", "/courses/{course_id}/modules/{module_id}/lessons",
     lambda w: (f"/courses/{cid(w)}/modules/{w.course['module_id']}/lessons",
                {"title": "L", "kind": "text", "body": "b", "required": False}), EDIT_CREATE),
    ("PATCH", "/courses/{course_id}/modules/{module_id}/lessons/{lesson_id}", _patch_lesson, EDIT),
    ("DELETE", "/courses/{course_id}/modules/{module_id}/lessons/{lesson_id}", _delete_lesson, EDIT_DELETE),
    ("POST", "/courses/{course_id}/assets",
     lambda w: (f"/courses/{cid(w)}/assets", {"filename": "x.md", "content_type": "text/markdown", "size": 9}),
     EDIT_CREATE),
    ("GET", "/courses/{course_id}/assets", lambda w: (f"/courses/{cid(w)}/assets", None), EDIT),
    ("DELETE", "/courses/{course_id}/assets/{asset_id}",
     lambda w: (f"/courses/{cid(w)}/assets/{w.fresh_asset()}", None), EDIT_DELETE),
    ("GET", "/courses/{course_id}/assets/{asset_id}/download",
     lambda w: (f"/courses/{cid(w)}/assets/{w.asset_id}/download", None), (401, 200, 403, 200, 403, 200)),
    ("POST", "/courses/{course_id}/enrollments", _enroll, (401, 201, 201, 403, 201, 201)),
    ("GET", "/me/enrollments", lambda w: ("/me/enrollments", None), SIGNED_IN),
    ("DELETE", "/enrollments/{enrollment_id}", _cancel, LEARNER_OWN),
    ("PUT", "/enrollments/{enrollment_id}/lessons/{lesson_id}/progress", _progress, LEARNER_OWN),
    ("GET", "/enrollments/{enrollment_id}/progress",
     lambda w: (f"/enrollments/{w.enrollment_id}/progress", None), (401, 200, 404, 200, 404, 200)),
]


# Blueprints of the API function owned elsewhere (they carry their own authorisation tests).
OTHER_OWNERS = {"chalicelib.certificates_routes"}


def test_the_matrix_covers_every_route() -> None:
    app = load_function_module("api").app
    routes = {(path, method) for path, methods in app.routes.items() for method, entry in methods.items()
              if entry.view_function.__module__ not in OTHER_OWNERS}
    assert {(p, m) for m, p, _, _ in CASES} == routes


@pytest.mark.parametrize(("method", "route", "factory", "expected"), CASES, ids=[f"{m} {p}" for m, p, _, _ in CASES])
def test_route_answers_each_actor_as_expected(world: World, method: str, route: str, factory: Factory,
                                              expected: tuple[int, ...]) -> None:
    got = {}
    for actor in ACTORS:
        path, body = factory(world)
        reply = world.api.call(method, path, world.tokens[actor], body)
        got[actor] = reply.status
        if reply.status >= 400:
            assert reply.body["error"]["code"] and reply.body["error"]["message"], reply
    assert got == dict(zip(ACTORS, expected, strict=True))
