"""The LMS API through chalice.test.Client on real Postgres and moto: build, publish, enrol,
progress, complete; with the outbox events each step writes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
import pytest

from tests.integration.lms.conftest import PASSWORD, Api, admin_token, outbox

pytestmark = pytest.mark.integration


def test_register_login_me(api: Api) -> None:
    token, user = api.user("instructor", name="Grace")
    me = api.call("GET", "/me", token)
    assert me.status == 200
    assert me.body["user"] == user
    assert user["role"] == "instructor" and user["name"] == "Grace"
    assert "password_hash" not in user


def test_register_rejects_duplicates_admin_role_and_bad_input(api: Api) -> None:
    r = api.call("POST", "/auth/register", json_body={"email": "Dup@Example.com", "password": PASSWORD, "name": "A"})
    assert r.status == 201 and r.body["user"]["email"] == "dup@example.com"
    again = api.call("POST", "/auth/register", json_body={"email": "dup@example.com", "password": PASSWORD,
                                                          "name": "B"})
    assert again.status == 409
    assert again.body["error"]["details"] == [{"field": "email", "problem": "already registered"}]
    admin = api.call("POST", "/auth/register", json_body={"email": "x@example.com", "password": PASSWORD,
                                                          "name": "X", "role": "admin"})
    assert admin.status == 400 and admin.body["error"]["details"][0]["field"] == "role"
    short = api.call("POST", "/auth/register", json_body={"email": "nope", "password": "short", "name": ""})
    fields = {d["field"] for d in short.body["error"]["details"]}
    assert short.status == 400 and fields == {"email", "password", "name"}


def test_login_failures_are_401_without_saying_which_part_was_wrong(api: Api) -> None:
    _, user = api.user()
    wrong = api.call("POST", "/auth/login", json_body={"email": user["email"], "password": "wrong-password!"})
    unknown = api.call("POST", "/auth/login", json_body={"email": "nobody@example.com", "password": PASSWORD})
    assert wrong.status == unknown.status == 401
    assert wrong.body == unknown.body


def test_bad_tokens_are_401(api: Api) -> None:
    assert api.call("GET", "/me").status == 401
    assert api.call("GET", "/me", "not-a-jwt").status == 401
    assert api.call("GET", "/me", headers={"authorization": "Basic abc"}).status == 401


def test_full_journey_with_an_uploaded_asset_and_the_outbox(api: Api, db: psycopg.Connection[Any],
                                                             in_process_env: dict[str, str]) -> None:
    # Given an instructor who builds a course with a text lesson and a document lesson
    teacher, teacher_user = api.user("instructor")
    course = api.call("POST", "/courses", teacher, {"title": "Postgres 101", "description": "Tables and queries"})
    assert course.status == 201 and course.body["status"] == "draft"
    cid = course.body["id"]
    module = api.call("POST", f"/courses/{cid}/modules", teacher, {"title": "Basics"})
    asset = api.call("POST", f"/courses/{cid}/assets", teacher,
                     {"filename": "Intro notes (v2).md", "content_type": "text/markdown", "size": 21})
    assert asset.status == 201, asset
    a = asset.body["asset"]
    assert a["status"] == "pending_upload"
    assert a["s3_key"] == f"courses/{cid}/assets/{a['id']}/Intro_notes_v2_.md"
    upload = asset.body["upload"]
    assert upload["method"] == "POST" and upload["fields"]["Content-Type"] == "text/markdown"
    sent = httpx.post(upload["url"], data=upload["fields"],
                      files={"file": ("intro.md", b"# Intro\nSELECT 1;\n\nok", "text/markdown")}, timeout=10)
    assert sent.status_code in (200, 201, 204), sent.text
    text = api.call("POST", f"/courses/{cid}/modules/{module.body['id']}/lessons", teacher,
                    {"title": "Read me", "kind": "text", "body": "Hello"})
    doc = api.call("POST", f"/courses/{cid}/modules/{module.body['id']}/lessons", teacher,
                   {"title": "Notes", "kind": "document", "asset_id": a["id"], "position": 0})
    optional = api.call("POST", f"/courses/{cid}/modules/{module.body['id']}/lessons", teacher,
                        {"title": "Extra", "kind": "text", "body": "more", "required": False})
    assert optional.status == 201 and optional.body["required"] is False and optional.body["position"] == 2
    assert doc.body["position"] == 0
    detail = api.call("GET", f"/courses/{cid}", teacher)
    assert detail.body["structure"] == "draft"
    assert [x["title"] for x in detail.body["modules"][0]["lessons"]] == ["Notes", "Read me", "Extra"]

    # When it is published
    pub = api.call("POST", f"/courses/{cid}/publish", teacher)
    assert pub.status == 201 and pub.body["version"] == 1 and pub.body["course"]["status"] == "published"

    # Then a learner sees version 1, enrols, downloads the document and completes the required lessons
    learner, learner_user = api.user()
    seen = api.call("GET", f"/courses/{cid}", learner)
    assert seen.status == 200 and seen.body["structure"] == "published" and seen.body["version"] == 1
    listed = api.call("GET", "/courses?limit=100", learner)
    assert cid in [c["id"] for c in listed.body["items"]]
    assert api.call("GET", f"/courses/{cid}/assets/{a['id']}/download", learner).status == 403
    enr = api.call("POST", f"/courses/{cid}/enrollments", learner)
    assert enr.status == 201 and enr.body["course_version"] == 1
    eid = enr.body["id"]
    dl = api.call("GET", f"/courses/{cid}/assets/{a['id']}/download", learner)
    assert dl.status == 200
    assert httpx.get(dl.body["url"], timeout=10).content == b"# Intro\nSELECT 1;\n\nok"
    progress = api.call("GET", f"/enrollments/{eid}/progress", learner)
    assert progress.body["percent"] == 0 and not progress.body["completed"]
    assert [r["title"] for r in progress.body["remaining"]] == ["Notes", "Read me"]
    assert progress.body["remaining"][0]["why"] == "required lesson not started"

    # The draft changes after publishing do not reach the learner's version
    api.call("POST", f"/courses/{cid}/modules/{module.body['id']}/lessons", teacher,
             {"title": "Added later", "kind": "text", "body": "v2"})
    assert api.call("POST", f"/courses/{cid}/publish", teacher).body["version"] == 2
    pinned = api.call("GET", f"/courses/{cid}", learner)
    assert pinned.body["version"] == 1 and len(pinned.body["modules"][0]["lessons"]) == 3

    half = api.call("PUT", f"/enrollments/{eid}/lessons/{doc.body['id']}/progress", learner,
                    {"status": "in_progress", "percent": 40})
    assert half.status == 200 and half.body["lesson"]["percent"] == 40 and half.body["percent"] == 0
    stale = api.call("PUT", f"/enrollments/{eid}/lessons/{doc.body['id']}/progress", learner,
                     {"status": "in_progress", "percent": 10})
    assert stale.body["lesson"]["percent"] == 40  # progress never goes backwards
    left = api.call("GET", f"/enrollments/{eid}/progress", learner).body["remaining"]
    assert left[0]["why"] == "required lesson in progress (40%), not completed"
    r1 = api.call("PUT", f"/enrollments/{eid}/lessons/{doc.body['id']}/progress", learner, {"status": "completed"})
    assert r1.body["percent"] == 50 and r1.body["enrollment_status"] == "active"
    r2 = api.call("PUT", f"/enrollments/{eid}/lessons/{text.body['id']}/progress", learner, {"status": "completed"})
    assert r2.body["completed"] is True and r2.body["percent"] == 100
    again = api.call("PUT", f"/enrollments/{eid}/lessons/{text.body['id']}/progress", learner,
                     {"status": "completed"})
    assert again.status == 200 and again.body["completed"] is True
    final = api.call("GET", f"/enrollments/{eid}/progress", learner).body
    assert final["completed"] and final["remaining"] == [] and final["status"] == "completed"
    assert {x["title"]: x["status"] for x in final["lessons"]} == {
        "Notes": "completed", "Read me": "completed", "Extra": "not_started"}
    mine = api.call("GET", "/me/enrollments", learner).body["items"]
    assert [(e["id"], e["status"], e["course_title"]) for e in mine] == [(eid, "completed", "Postgres 101")]

    # And the outbox holds exactly these events, in order, each carrying the request's correlation id
    events = [(r["event_type"], r["aggregate_type"], r["aggregate_id"])
              for r in outbox(db) if r["payload"]["data"].get("course_id") == cid]
    assert events == [
        ("smartcourse.asset.created.v1", "asset", a["id"]),
        ("smartcourse.course.published.v1", "course", cid),
        ("smartcourse.enrollment.created.v1", "enrollment", eid),
        ("smartcourse.course.published.v1", "course", cid),
        ("smartcourse.lesson.completed.v1", "enrollment", eid),
        ("smartcourse.lesson.completed.v1", "enrollment", eid),
        ("smartcourse.course.completed.v1", "enrollment", eid),
    ]
    published = outbox(db, course_id=cid, version=1)[0]["payload"]["data"]
    assert published["assets"] == [{"asset_id": a["id"], "s3_key": a["s3_key"], "filename": "Intro notes (v2).md",
                                    "content_type": "text/markdown", "size_bytes": 21}]
    assert [x["title"] for x in published["lessons"]] == ["Notes", "Read me", "Extra"]
    assert published["instructor_id"] == teacher_user["id"]
    completed = outbox(db, course_id=cid)[-1]["payload"]
    assert completed["data"] == {"enrollment_id": eid, "course_id": cid, "course_version": 1,
                                 "user_id": learner_user["id"], "completed_at": completed["data"]["completed_at"]}
    assert all(r["correlation_id"] for r in outbox(db, course_id=cid))


def test_correlation_id_from_the_request_reaches_the_outbox(api: Api, db: psycopg.Connection[Any]) -> None:
    teacher, _ = api.user("instructor")
    cid = api.call("POST", "/courses", teacher, {"title": "T"}).body["id"]
    r = api.call("PATCH", f"/courses/{cid}", teacher, {"title": "T2"}, headers={"x-correlation-id": "req-abc-123"})
    assert r.status == 200 and r.headers.get("x-correlation-id", r.headers.get("X-Correlation-Id")) == "req-abc-123"
    row = outbox(db, course_id=cid)[-1]
    assert row["event_type"] == "smartcourse.course.updated.v1" and row["correlation_id"] == "req-abc-123"
    assert row["payload"]["data"]["changes"] == {"title": "T2"}


def test_asset_status_comes_from_the_ai_index_and_deletion_removes_the_object(
        api: Api, db: psycopg.Connection[Any], in_process_env: dict[str, str]) -> None:
    teacher, _ = api.user("instructor")
    cid = api.call("POST", "/courses", teacher, {"title": "Assets"}).body["id"]
    made = [api.call("POST", f"/courses/{cid}/assets", teacher,
                     {"filename": f"f{i}.pdf", "content_type": "application/pdf", "size": 5}).body for i in range(3)]
    ids = [m["asset"]["id"] for m in made]
    up = made[2]["upload"]
    assert httpx.post(up["url"], data=up["fields"], files={"file": ("f.pdf", b"%PDF-", "application/pdf")},
                      timeout=10).status_code in (200, 204)
    # the AI side's rows (fixture data standing in for the ingestion function)
    db.execute("INSERT INTO ai.documents (id, asset_id, course_id, s3_key, status, error_code, error) VALUES "
               "(%s, %s, %s, 'k', 'ready', NULL, NULL), (%s, %s, %s, 'k', 'failed', 'unreadable', "
               "'the PDF has no text layer')",
               (uuid.uuid4(), ids[0], cid, uuid.uuid4(), ids[1], cid))
    listed = api.call("GET", f"/courses/{cid}/assets", teacher).body["items"]
    assert [(x["id"], x["status"], x["error"]) for x in listed] == [
        (ids[0], "ready", None), (ids[1], "failed", "the PDF has no text layer"), (ids[2], "pending_upload", None)]

    import boto3

    s3 = boto3.client("s3", endpoint_url=in_process_env["AWS_ENDPOINT_URL"], region_name="us-east-1")
    key = made[2]["asset"]["s3_key"]
    bucket = in_process_env["ASSETS_BUCKET"]
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == 5
    assert api.call("DELETE", f"/courses/{cid}/assets/{ids[2]}", teacher).status == 204
    assert s3.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount") == 0
    assert [x["id"] for x in api.call("GET", f"/courses/{cid}/assets", teacher).body["items"]] == ids[:2]
    deleted = outbox(db, asset_id=ids[2])[-1]
    assert deleted["event_type"] == "smartcourse.asset.deleted.v1"
    assert deleted["payload"]["data"] == {"asset_id": ids[2], "course_id": cid, "s3_key": key}


def test_admin_cli_creates_admins_who_see_everything(api: Api, api_module: Any, database_url: str) -> None:
    token, _ = admin_token(database_url, api_module)
    assert api.call("GET", "/me", token).body["user"]["role"] == "admin"
    teacher, _ = api.user("instructor")
    draft = api.call("POST", "/courses", teacher, {"title": "Secret draft"}).body["id"]
    assert api.call("GET", f"/courses/{draft}", token).status == 200
    assert draft in [c["id"] for c in api.call("GET", "/courses?status=draft&limit=100", token).body["items"]]
    from smartcourse.lms.cli import CliError, create_admin

    with pytest.raises(CliError, match="already exists"):
        me = api.call("GET", "/me", token).body["user"]
        create_admin(database_url, me["email"], "Again", PASSWORD)


def test_requests_that_do_not_need_s3_never_make_its_client(api: Api, api_module: Any) -> None:
    # botocore's import and the S3 client are about 130 ms of a cold start: reading and writing a
    # course does not pay for them; declaring an asset (a presigned POST) does.
    from chalicelib import deps

    teacher, _ = api.user("instructor")
    made = api.published_course(teacher)
    cid = made["course"]["id"]
    learner, _ = api.user("student")
    assert api.call("POST", f"/courses/{cid}/enrollments", learner).status == 201
    assert api.call("GET", f"/courses/{cid}", learner).status == 200
    assert api.call("GET", "/courses", learner).status == 200
    assert not deps.wiring().s3.built and not deps.wiring().storage.built
    asset = api.call("POST", f"/courses/{cid}/assets", teacher,
                     {"filename": "notes.md", "content_type": "text/markdown", "size": 5})
    assert asset.status == 201, asset
    assert deps.wiring().s3.built and deps.wiring().storage.built
