"""The read-only LMS contracts other contexts use (readonly.lms_access, readonly.lms_facts,
readonly.ai_index) read the dict rows a `Database` connection answers, as in production."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from smartcourse.db import Database
from smartcourse.readonly import ai_index, lms_access, lms_facts
from tests.integration.lms.conftest import Api

pytestmark = pytest.mark.integration


def test_readonly_contracts_read_database_rows(api: Api, database_url: str) -> None:
    teacher, teacher_user = api.user("instructor")
    learner_token, learner_user = api.user()
    course = api.published_course(teacher, lessons=1)
    cid = uuid.UUID(course["course"]["id"])
    assert api.call("POST", f"/courses/{cid}/enrollments", learner_token).status == 201
    asset = api.call("POST", f"/courses/{cid}/assets", teacher,
                     {"filename": "notes.pdf", "content_type": "application/pdf", "size": 10})
    assert asset.status == 201, asset
    asset_id = uuid.UUID(asset.body["asset"]["id"])
    db = Database(database_url)
    try:
        with db.transaction() as conn:
            access = lms_access.course_access(conn, cid, uuid.UUID(learner_user["id"]))
            assert access == lms_access.CourseAccess(cid, uuid.UUID(teacher_user["id"]), "published", 1, "active")
            assert lms_access.course_access(conn, uuid.uuid4(), uuid.UUID(learner_user["id"])) is None
            latest = lms_access.latest_published_version(conn, cid)
            assert latest is not None and latest.version == 1 and latest.asset_ids == []
            assert lms_access.lessons_for_assets(conn, cid, 1, [asset_id]) == {}

            facts: Any = lms_facts.asset(conn, asset_id)
            assert facts.course_id == cid and facts.filename == "notes.pdf" and facts.size_bytes == 10
            assert not facts.deleted
            assert [a.id for a in lms_facts.course_assets(conn, cid)] == [asset_id]
            assert lms_facts.published_version(conn, cid) == 1
            assert cid in lms_facts.course_ids_with_assets(conn)
            published = lms_facts.event_id(conn, "smartcourse.course.published.v1", cid)
            assert isinstance(published, uuid.UUID)
            assert lms_facts.event_id(conn, "smartcourse.course.published.v1", uuid.uuid4()) is None
            assert isinstance(lms_facts.unindexed_assets(conn, grace_s=0, window_s=3600, limit=5), list)
            assert isinstance(lms_facts.published_versions_not_live(conn, grace_s=0, limit=5), list)
            assert isinstance(lms_facts.deleted_assets_not_purged(conn, grace_s=0, limit=5), list)

            assert ai_index.asset_statuses(conn, [asset_id]).keys() <= {asset_id}
    finally:
        db.close()
