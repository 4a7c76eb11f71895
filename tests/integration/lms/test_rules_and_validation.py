"""Clear 4xx answers for bad input and broken rules; Idempotency-Key replays; pagination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.integration.lms.conftest import Api, outbox

pytestmark = pytest.mark.integration


def test_unknown_fields_limits_and_bad_json_are_400_naming_the_field(api: Api) -> None:
    teacher, _ = api.user("instructor")
    r = api.call("POST", "/courses", teacher, {"title": "x" * 201, "colour": "red"})
    assert r.status == 400 and r.body["error"]["code"] == "validation_failed"
    assert {d["field"] for d in r.body["error"]["details"]} == {"title", "colour"}
    bad = api.call("POST", "/courses", teacher, raw=b"{not json")
    assert bad.status == 400 and bad.body["error"]["code"] == "bad_request"
    arr = api.call("POST", "/courses", teacher, raw=b"[1, 2]")
    assert arr.status == 400 and arr.body["error"]["details"] == [{"field": "body", "problem": "not an object"}]
    page = api.call("GET", "/courses?limit=1000", teacher)
    assert page.status == 400 and page.body["error"]["details"][0]["field"] == "limit"
    unknown_q = api.call("GET", "/courses?sort=title", teacher)
    assert unknown_q.status == 400 and unknown_q.body["error"]["details"][0]["field"] == "sort"
    cursor = api.call("GET", "/courses?cursor=garbage", teacher)
    assert cursor.status == 400 and cursor.body["error"]["details"][0]["field"] == "cursor"
    assert api.call("GET", "/courses/not-a-uuid", teacher).status == 404
    empty_patch = api.call("PATCH", f"/courses/{api.call('POST', '/courses', teacher, {'title': 'T'}).body['id']}",
                           teacher, {})
    assert empty_patch.status == 400


def test_an_enrolment_window_that_closes_before_it_opens_is_422_naming_the_field(api: Api) -> None:
    # Both values are well formed (the document allows them); their order is a rule it cannot
    # state, so the answer is 422, not 400, on create and on a PATCH of one end.
    teacher, _ = api.user("instructor")
    opens, closes = datetime(2027, 3, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC)
    r = api.call("POST", "/courses", teacher, {"title": "T", "enroll_opens_at": opens.isoformat(),
                                               "enroll_closes_at": closes.isoformat()})
    assert r.status == 422 and r.body["error"]["code"] == "rule_violated"
    assert r.body["error"]["details"] == [{"field": "enroll_closes_at", "problem": "must be after enroll_opens_at"}]
    cid = api.call("POST", "/courses", teacher, {"title": "T", "enroll_closes_at": closes.isoformat()}).body["id"]
    assert api.call("PATCH", f"/courses/{cid}", teacher, {"enroll_opens_at": opens.isoformat()}).status == 422
    assert api.call("PATCH", f"/courses/{cid}", teacher,
                    {"enroll_opens_at": (closes - timedelta(days=1)).isoformat()}).status == 200


def test_publishing_an_empty_course_is_409_listing_the_problems(api: Api) -> None:
    teacher, _ = api.user("instructor")
    cid = api.call("POST", "/courses", teacher, {"title": "Empty"}).body["id"]
    r = api.call("POST", f"/courses/{cid}/publish", teacher)
    assert r.status == 409
    assert r.body["error"]["details"] == [
        {"field": "lessons", "problem": "a course needs at least one lesson to be published"}]
    mid = api.call("POST", f"/courses/{cid}/modules", teacher, {"title": "M"}).body["id"]
    api.call("POST", f"/courses/{cid}/modules/{mid}/lessons", teacher, {"title": "V", "kind": "video"})
    r = api.call("POST", f"/courses/{cid}/publish", teacher)
    assert r.status == 409 and "a video lesson needs an asset" in r.body["error"]["details"][0]["problem"]


def test_assets_must_be_an_accepted_type_and_size(api: Api) -> None:
    teacher, _ = api.user("instructor")
    cid = api.call("POST", "/courses", teacher, {"title": "A"}).body["id"]
    exe = api.call("POST", f"/courses/{cid}/assets", teacher,
                   {"filename": "x.exe", "content_type": "application/x-msdownload", "size": 10})
    assert exe.status == 415 and exe.body["error"]["details"][0]["field"] == "content_type"
    big = api.call("POST", f"/courses/{cid}/assets", teacher,
                   {"filename": "x.pdf", "content_type": "application/pdf", "size": 51 * 1024 * 1024})
    assert big.status == 413
    srt = api.call("POST", f"/courses/{cid}/assets", teacher,
                   {"filename": "captions.srt", "content_type": "application/x-subrip; charset=utf-8", "size": 10})
    assert srt.status == 201 and srt.body["asset"]["content_type"] == "application/x-subrip"
    policy = srt.body["upload"]["fields"]
    assert {"key", "policy", "Content-Type"} <= set(policy)


def test_lesson_asset_must_belong_to_the_course_and_used_assets_cannot_be_deleted(api: Api) -> None:
    teacher, _ = api.user("instructor")
    c1 = api.call("POST", "/courses", teacher, {"title": "One"}).body["id"]
    c2 = api.call("POST", "/courses", teacher, {"title": "Two"}).body["id"]
    foreign = api.call("POST", f"/courses/{c2}/assets", teacher,
                       {"filename": "x.pdf", "content_type": "application/pdf", "size": 10}).body["asset"]["id"]
    mid = api.call("POST", f"/courses/{c1}/modules", teacher, {"title": "M"}).body["id"]
    r = api.call("POST", f"/courses/{c1}/modules/{mid}/lessons", teacher,
                 {"title": "D", "kind": "document", "asset_id": foreign})
    assert r.status == 400 and r.body["error"]["details"] == [
        {"field": "asset_id", "problem": "no such asset in this course"}]
    own = api.call("POST", f"/courses/{c1}/assets", teacher,
                   {"filename": "y.pdf", "content_type": "application/pdf", "size": 10}).body["asset"]["id"]
    api.call("POST", f"/courses/{c1}/modules/{mid}/lessons", teacher, {"title": "D", "kind": "document",
                                                                        "asset_id": own})
    blocked = api.call("DELETE", f"/courses/{c1}/assets/{own}", teacher)
    assert blocked.status == 409 and "used by lessons" in blocked.body["error"]["message"]


def test_enrolment_rules_twice_capacity_window_and_cancel(api: Api) -> None:
    teacher, _ = api.user("instructor")
    a, _ = api.user()
    b, _ = api.user()
    course = api.published_course(teacher, lessons=1, capacity=1)
    cid = course["course"]["id"]
    first = api.call("POST", f"/courses/{cid}/enrollments", a)
    assert first.status == 201
    twice = api.call("POST", f"/courses/{cid}/enrollments", a)
    assert twice.status == 409 and "already enrolled" in twice.body["error"]["message"]
    full = api.call("POST", f"/courses/{cid}/enrollments", b)
    assert full.status == 409 and "full" in full.body["error"]["message"]
    cancelled = api.call("DELETE", f"/enrollments/{first.body['id']}", a)
    assert cancelled.status == 200 and cancelled.body["status"] == "cancelled"
    assert api.call("DELETE", f"/enrollments/{first.body['id']}", a).status == 409
    assert api.call("PUT", f"/enrollments/{first.body['id']}/lessons/{course['lesson_ids'][0]}/progress", a,
                    {"status": "completed"}).status == 409
    assert api.call("POST", f"/courses/{cid}/enrollments", b).status == 201  # the seat is free again
    later = datetime.now(UTC) + timedelta(days=3)
    closed = api.published_course(teacher, lessons=1, enroll_opens_at=later.isoformat())
    r = api.call("POST", f"/courses/{closed['course']['id']}/enrollments", a)
    assert r.status == 409 and "opens at" in r.body["error"]["message"]
    draft = api.call("POST", "/courses", teacher, {"title": "Draft"}).body["id"]
    assert api.call("POST", f"/courses/{draft}/enrollments", a).status == 404
    archived = api.published_course(teacher, lessons=1)
    api.call("PATCH", f"/courses/{archived['course']['id']}", teacher, {"archived": True})
    r = api.call("POST", f"/courses/{archived['course']['id']}/enrollments", a)
    assert r.status == 409 and "archived" in r.body["error"]["message"]


def test_progress_on_a_lesson_of_another_course_is_a_clear_404(api: Api) -> None:
    teacher, _ = api.user("instructor")
    learner, _ = api.user()
    one, two = api.published_course(teacher, lessons=1), api.published_course(teacher, lessons=1)
    eid = api.call("POST", f"/courses/{one['course']['id']}/enrollments", learner).body["id"]
    r = api.call("PUT", f"/enrollments/{eid}/lessons/{two['lesson_ids'][0]}/progress", learner,
                 {"status": "completed"})
    assert r.status == 404 and "is not part of course version 1" in r.body["error"]["message"]
    r = api.call("PUT", f"/enrollments/{eid}/lessons/{one['lesson_ids'][0]}/progress", learner,
                 {"status": "in_progress", "percent": 100})
    assert r.status == 400 and "send status 'completed'" in r.body["error"]["details"][0]["problem"]


def test_idempotency_key_replays_the_first_result_without_a_second_row_or_event(
        api: Api, db: psycopg.Connection[Any]) -> None:
    teacher, _ = api.user("instructor")
    learner, _ = api.user()
    h = {"idempotency-key": "create-course-1"}
    first = api.call("POST", "/courses", teacher, {"title": "Once"}, headers=h)
    replay = api.call("POST", "/courses", teacher, {"title": "Once"}, headers=h)
    assert first.status == replay.status == 201 and first.body == replay.body
    assert replay.headers.get("idempotent-replayed", replay.headers.get("Idempotent-Replayed")) == "true"
    n = db.execute("SELECT count(*) AS n FROM lms.courses WHERE title = 'Once' AND instructor_id = %s",
                   (first.body["instructor_id"],)).fetchone()
    assert n is not None and n["n"] == 1
    other = api.call("POST", "/courses", teacher, {"title": "Different"}, headers=h)
    assert other.status == 409 and other.body["error"]["code"] == "idempotency_key_reused"
    # the same key from another caller is that caller's own key
    assert api.call("POST", "/courses", api.user("instructor")[0], {"title": "Once"}, headers=h).status == 201

    course = api.published_course(teacher, lessons=1)
    cid = course["course"]["id"]
    k = {"idempotency-key": "enrol-1"}
    e1 = api.call("POST", f"/courses/{cid}/enrollments", learner, headers=k)
    e2 = api.call("POST", f"/courses/{cid}/enrollments", learner, headers=k)
    assert e1.status == e2.status == 201 and e1.body["id"] == e2.body["id"]
    created = [r for r in outbox(db, course_id=cid) if r["event_type"] == "smartcourse.enrollment.created.v1"]
    assert len(created) == 1
    # a failed first attempt stores nothing: the same key works once the problem is fixed
    d = api.call("POST", "/courses", teacher, {"title": "Empty"}).body["id"]
    pk = {"idempotency-key": "publish-1"}
    assert api.call("POST", f"/courses/{d}/publish", teacher, headers=pk).status == 409
    mid = api.call("POST", f"/courses/{d}/modules", teacher, {"title": "M"}).body["id"]
    api.call("POST", f"/courses/{d}/modules/{mid}/lessons", teacher, {"title": "L", "kind": "text", "body": "b"})
    p1 = api.call("POST", f"/courses/{d}/publish", teacher, headers=pk)
    p2 = api.call("POST", f"/courses/{d}/publish", teacher, headers=pk)
    assert p1.status == p2.status == 201 and p1.body == p2.body and p1.body["version"] == 1
    assert len(outbox(db, course_id=d)) == 1


def test_course_list_pagination_and_visibility(api: Api) -> None:
    teacher, teacher_user = api.user("instructor")
    other, _ = api.user("instructor")
    learner, _ = api.user()
    published = [api.published_course(teacher, lessons=1)["course"]["id"] for _ in range(3)]
    draft = api.call("POST", "/courses", teacher, {"title": "Hidden draft"}).body["id"]
    seen, cursor = [], None
    while True:
        q = f"/courses?limit=2&instructor_id={teacher_user['id']}" + (f"&cursor={cursor}" if cursor else "")
        page = api.call("GET", q, learner).body
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(published))  # newest first, no draft, no duplicates
    mine = api.call("GET", f"/courses?instructor_id={teacher_user['id']}&limit=100", teacher).body["items"]
    assert draft in [c["id"] for c in mine]
    assert draft not in [c["id"] for c in api.call("GET", "/courses?limit=100", other).body["items"]]


def test_reordering_modules_and_lessons(api: Api) -> None:
    teacher, _ = api.user("instructor")
    cid = api.call("POST", "/courses", teacher, {"title": "Order"}).body["id"]
    mods = [api.call("POST", f"/courses/{cid}/modules", teacher, {"title": t}).body["id"] for t in "ABC"]
    r = api.call("PATCH", f"/courses/{cid}/modules/{mods[2]}", teacher, {"position": 0})
    assert r.status == 200 and r.body["position"] == 0
    titles = [m["title"] for m in api.call("GET", f"/courses/{cid}", teacher).body["modules"]]
    assert titles == ["C", "A", "B"]
    assert api.call("DELETE", f"/courses/{cid}/modules/{mods[0]}", teacher).status == 204
    detail = api.call("GET", f"/courses/{cid}", teacher).body["modules"]
    assert [(m["title"], m["position"]) for m in detail] == [("C", 0), ("B", 1)]
