"""Notifications per second through NotificationsFunction's path, against a bare SES loop.

Two measurements in the same run, on the same machine and stack (SES is moto on 127.0.0.1:4566):
- baseline: a bare loop of SES v2 `SendEmail` calls, each the same raw MIME a notification email
  is (the mailer adapter alone, no database);
- the product: N `enrollment.created` events through the real consumer (one MSK batch of 50 at a
  time: processed_events row, notification, preferences, quiet hours, the queued email, commit),
  then the schedule's delivery (claim, re-check, SES, settle) until every email is sent.
The figure that matters is the product's notifications (each with its email) per second over the
baseline's emails per second (issue 16: >= 0.5).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from bench.common import bench_env
from bench.harness import Section
from smartcourse.aws import client
from smartcourse.consumer import Consumer
from smartcourse.db import Database
from smartcourse.events import new_event
from smartcourse.notifications.domain import Outgoing
from smartcourse.notifications.mailer import SesMailer
from smartcourse.notifications.service import EmailLinks, deliver_due, handlers
from smartcourse.notifications.settings import NotificationsSettings
from smartcourse.observability import metrics
from testkit.msk import msk_event

N = 200
BATCH = 50


def _seed(db: Database, count: int) -> list[Any]:
    """A published course and `count` enrolments, as the API leaves them; their events."""
    events = []
    with db.transaction() as conn:
        instructor, course, module = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        conn.execute("INSERT INTO lms.users (id, email, password_hash, name, role) VALUES (%s, %s, 'x', "
                     "'Ada Teacher', 'instructor')", (instructor, f"i-{instructor.hex[:12]}@example.com"))
        conn.execute("INSERT INTO lms.courses (id, instructor_id, title, status, published_version) "
                     "VALUES (%s, %s, 'Relational Databases', 'published', 1)", (course, instructor))
        snapshot = json.dumps({"modules": [{"module_id": str(module), "title": "M", "position": 0, "lessons": []}],
                               "assets": []})
        conn.execute("INSERT INTO lms.course_versions (course_id, version, snapshot, published_by) "
                     "VALUES (%s, 1, %s, %s)", (course, snapshot, instructor))
        for i in range(count):
            learner, enrollment = uuid.uuid4(), uuid.uuid4()
            at = datetime.now(UTC)
            conn.execute("INSERT INTO lms.users (id, email, password_hash, name, role) VALUES (%s, %s, 'x', %s, "
                         "'student')", (learner, f"s-{learner.hex[:12]}@example.com", f"Learner {i}"))
            conn.execute("INSERT INTO lms.enrollments (id, user_id, course_id, course_version, enrolled_at) "
                         "VALUES (%s, %s, %s, 1, %s)", (enrollment, learner, course, at))
            events.append(new_event("enrollment.created", enrollment, {
                "enrollment_id": str(enrollment), "user_id": str(learner), "course_id": str(course),
                "course_version": 1, "enrolled_at": at.isoformat()}, aggregate_type="enrollment"))
    return events


def run() -> Section:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")  # moto takes any; boto3 wants some
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    with bench_env("benchnotify") as env:
        fn = env.template.functions["NotificationsFunction"]
        sender = fn.environment["NOTIFICATIONS_SENDER"]
        settings = NotificationsSettings(aws_endpoint_url=env.endpoints.aws_endpoint_url,
                                         database_url=env.database_url, notifications_sender=sender,
                                         public_base_url="http://127.0.0.1:8000", jwt_secret="b" * 40)
        mailer = SesMailer(client("sesv2", settings), sender)
        db = Database(env.database_url)
        with db.transaction() as conn:  # a dedicated database: start from an empty notify schema
            conn.execute("TRUNCATE notify.emails, notify.sms, notify.digests, notify.notifications, "
                         "notify.processed_events, notify.consumer_failures")
        events = _seed(db, N)

        # baseline: the same kind of message, bare SES calls in a loop
        mail = Outgoing("learner@example.com", "You are enrolled in Relational Databases", "text " * 40,
                        "<p>" + "html " * 60 + "</p>", "http://127.0.0.1:8000/unsubscribe/x")
        mailer.send(mail)  # warm-up (connection)
        t0 = time.perf_counter()
        for _ in range(N):
            mailer.send(mail)
        bare_s = time.perf_counter() - t0

        consumer = Consumer("bench-notifications", lambda: db,
                            dict(handlers(EmailLinks(b"b" * 40, "http://127.0.0.1:8000"))), schema="notify")
        topic = f"smartcourse.{env.stage}.enrollment"
        t0 = time.perf_counter()
        for i in range(0, N, BATCH):
            out = consumer.handle(msk_event(events[i:i + BATCH], topic, first_offset=i), None)
            metrics.clear_metrics()  # what each invocation's log_metrics flush does, without printing
            assert out == {"batchItemFailures": []}, out
        consume_s = time.perf_counter() - t0
        sent = 0
        t1 = time.perf_counter()
        while sent < N:
            result = deliver_due(db, mailer, batch=100)
            metrics.clear_metrics()
            if not result["sent"]:
                break
            sent += result["sent"]
        deliver_s = time.perf_counter() - t1
        with db.transaction() as conn:
            status = {r["status"]: r["n"] for r in conn.execute(
                "SELECT status, count(*) AS n FROM notify.emails GROUP BY status").fetchall()}
        db.close()

    bare_rate = N / bare_s
    total_s = consume_s + deliver_s
    rows = [
        {"step": "bare SES SendEmail loop (baseline)", "count": N, "seconds": bare_s, "per second": bare_rate,
         "x baseline": 1.0},
        {"step": "consumer: event -> notification + queued email (batches of 50)", "count": N, "seconds": consume_s,
         "per second": N / consume_s, "x baseline": N / consume_s / bare_rate},
        {"step": "schedule: claim, re-check, SES, settle", "count": sent, "seconds": deliver_s,
         "per second": sent / deliver_s, "x baseline": sent / deliver_s / bare_rate},
        {"step": "the product: notifications with their email sent, end to end", "count": sent, "seconds": total_s,
         "per second": sent / total_s, "x baseline": sent / total_s / bare_rate},
    ]
    verdict = "PASS" if sent == N and sent / total_s / bare_rate >= 0.5 else "FAIL"
    return Section(
        title="Notifications: per second through the consumer and SES",
        rows=rows,
        notes=(f"One process, sequential; {N} enrolments of one course, each one in-app notification and one email "
               f"(emails by status after the run: {status}). SES is moto, Postgres the embedded server, no Kafka "
               "(MSK batches built in-process). Target (issue 16): end to end >= 0.5 x the bare SES loop: "
               f"{verdict}."),
        order=75,
    )
