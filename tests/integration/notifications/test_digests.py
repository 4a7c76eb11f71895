"""Digests on the real stack: the notifications of the types a user batches by email become one
email per user, cadence and window (at 08:00 in their zone), once however often or concurrently the
schedule runs, sent through SES (moto) with a one-click unsubscribe that turns the batch off."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from smartcourse.db import Database
from smartcourse.notifications import repository as repo
from smartcourse.notifications import service
from tests.integration.lms.conftest import Api
from tests.integration.notifications.test_emails import sent_to

pytestmark = pytest.mark.integration
PARIS = ZoneInfo("Europe/Paris")


def notify(db: psycopg.Connection[Any], user_id: str, type_: str, title: str, at: datetime) -> None:
    """A notification as the consumer stores it, created at `at`."""
    db.execute("INSERT INTO notify.notifications (id, user_id, type, dedupe_key, title, body, event_id, created_at) "
               "VALUES (%s, %s, %s, %s, %s, 'b', %s, %s)",
               (uuid.uuid4(), user_id, type_, uuid.uuid4().hex, title, uuid.uuid4(), at))


def test_yesterdays_batched_notifications_make_one_digest_sent_once(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    learner, me = api.user("student")
    assert api.call("PUT", "/me/notification-preferences", learner, {"timezone": "Europe/Paris"}).status == 200
    now = datetime(2031, 3, 12, 9, 30, tzinfo=PARIS).astimezone(UTC)        # Wednesday 09:30 in Paris
    yesterday = datetime(2031, 3, 11, 15, 0, tzinfo=PARIS).astimezone(UTC)
    notify(db, me["id"], "course_updated", "SQL was updated", yesterday)                 # daily by default
    notify(db, me["id"], "course_updated", "Go was updated", yesterday + timedelta(hours=2))
    notify(db, me["id"], "course_updated", "Today's, for tomorrow", now - timedelta(minutes=5))
    notify(db, me["id"], "enrollment_confirmed", "Immediate, not batched", yesterday)
    d = fn.deps()
    database = Database(in_process_env["DATABASE_URL"])
    try:
        # Two schedules at once, then again: one digest for the window
        runs = [threading.Thread(target=service.build_digests, args=(database, d.links),
                                 kwargs={"now": now, "every_s": 0}) for _ in range(2)]
        for t in runs:
            t.start()
        for t in runs:
            t.join()
        service.build_digests(database, d.links, now=now, every_s=0)
    finally:
        database.close()
    [digest] = db.execute("SELECT * FROM notify.digests WHERE user_id = %s", (me["id"],)).fetchall()
    assert (digest["cadence"], digest["items"]) == ("daily", 2)
    assert digest["window_start"] == datetime(2031, 3, 11, tzinfo=PARIS)
    [mail] = db.execute("SELECT * FROM notify.emails WHERE digest_id = %s", (digest["id"],)).fetchall()
    assert mail["subject"] == "Your SmartCourse daily digest: 2 notifications" and mail["type"] == "digest_daily"
    assert "Go was updated" in mail["text_body"] and "Today's" not in mail["text_body"]
    assert "Immediate" not in mail["text_body"]
    out = service.deliver_due(d.database, d.mailer, now=now + timedelta(minutes=1))
    assert out["sent"] >= 1
    [msg] = sent_to(in_process_env["AWS_ENDPOINT_URL"], me["email"])
    assert msg["Subject"] == "Your SmartCourse daily digest: 2 notifications"
    # Its one-click link turns every type batched daily off by email
    path = msg["List-Unsubscribe"][1:-1].removeprefix(in_process_env["PUBLIC_BASE_URL"])
    r = api.client.http.post(path, body=b"List-Unsubscribe=One-Click",
                             headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200
    prefs = {t["type"]: t["channels"] for t in api.call("GET", "/me/notification-preferences", learner).body["types"]}
    assert prefs["course_updated"]["email"]["cadence"] == "off"
    assert prefs["enrollment_confirmed"]["email"]["cadence"] == "immediately"  # not batched: untouched


def test_a_weekly_digest_waits_for_monday_and_the_job_runs_once_per_period(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    _, me = api.user("instructor")
    notify(db, me["id"], "enrollment_milestone", "SQL reached 10 enrolments",
           datetime(2031, 3, 12, 10, 0, tzinfo=UTC))                              # weekly by default
    d = fn.deps()
    database = Database(in_process_env["DATABASE_URL"])
    try:
        service.build_digests(database, d.links, now=datetime(2031, 3, 15, 12, 0, tzinfo=UTC), every_s=0)  # Sat
        assert db.execute("SELECT count(*) AS n FROM notify.digests WHERE user_id = %s",
                          (me["id"],)).fetchone() == {"n": 0}
        service.build_digests(database, d.links, now=datetime(2031, 3, 17, 8, 30, tzinfo=UTC), every_s=0)  # Mon
        [digest] = db.execute("SELECT cadence, items FROM notify.digests WHERE user_id = %s",
                              (me["id"],)).fetchall()
        assert digest == {"cadence": "weekly", "items": 1}
        with database.transaction() as conn:
            assert repo.take_job(conn, "digests", 0)
        with database.transaction() as conn:
            assert not repo.take_job(conn, "digests", 3600)  # just ran
    finally:
        database.close()
