"""Certificates rendered and stored per second.

Three measurements in the same run, on the same machine and stack:
- render only: Snapshot -> PDF bytes (fpdf2 + HarfBuzz + QR), Latin names;
- bare S3 put of the same PDF bytes to the certificates bucket (moto locally): the storage baseline;
- full issuance: one transaction as the consumer runs it (facts, INSERT ... ON CONFLICT, render,
  S3 put, outbox row, commit), without Kafka.
Plus the render cost of a name that needs the CJK fallback font. Ratios are the comparable figures.
"""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, date, datetime
from typing import Any

from bench.common import bench_env
from bench.harness import Section, median, percentile
from smartcourse.certificates.domain import Snapshot, certificate_key, code_for_issuance, verify_url
from smartcourse.certificates.objects import S3CertificateStore
from smartcourse.certificates.render import PdfRenderer
from smartcourse.certificates.service import issue_for_completion
from smartcourse.db import Database
from smartcourse.events import new_event

N = 40
N_CJK = 10
PUBLIC = "https://smartcourse.example.com"


def _seed(db: Database, count: int) -> list[uuid.UUID]:
    enrollments = []
    with db.transaction() as conn:
        instructor = uuid.uuid4()
        conn.execute("INSERT INTO lms.users (id, email, password_hash, name, role) VALUES (%s, %s, 'x', %s, "
                     "'instructor')", (instructor, f"i-{instructor.hex[:12]}@example.com", "Dr. Ada Lovelace"))
        course = uuid.uuid4()
        conn.execute("INSERT INTO lms.courses (id, instructor_id, title, status, published_version) "
                     "VALUES (%s, %s, 'Relational Databases in Practice', 'published', 1)", (course, instructor))
        conn.execute("INSERT INTO lms.course_versions (course_id, version, snapshot, published_by) "
                     "VALUES (%s, 1, '{}', %s)", (course, instructor))
        for i in range(count):
            learner, enrollment = uuid.uuid4(), uuid.uuid4()
            conn.execute("INSERT INTO lms.users (id, email, password_hash, name, role) VALUES (%s, %s, 'x', %s, "
                         "'student')", (learner, f"s-{learner.hex[:12]}@example.com", f"Zoë Ångström {i}"))
            conn.execute("INSERT INTO lms.enrollments (id, user_id, course_id, course_version, status, completed_at) "
                         "VALUES (%s, %s, %s, 1, 'completed', %s)",
                         (enrollment, learner, course, datetime(2026, 11, 26, tzinfo=UTC)))
            enrollments.append(enrollment)
    return enrollments


def _snapshot(name: str) -> Snapshot:
    code = code_for_issuance(uuid.uuid4())
    return Snapshot(name, "Relational Databases in Practice", "Dr. Ada Lovelace", date(2026, 11, 26), 1, code,
                    verify_url(PUBLIC, code))


def _timed(fn: Any, items: list[Any]) -> tuple[float, list[float]]:
    laps = []
    t0 = time.perf_counter()
    for item in items:
        s = time.perf_counter()
        fn(item)
        laps.append((time.perf_counter() - s) * 1000)
    return time.perf_counter() - t0, laps


def run() -> Section:
    import boto3
    from botocore.config import Config

    renderer = PdfRenderer()
    with bench_env("benchcert") as env:
        bucket = env.template.buckets["CertificatesBucket"]
        s3 = boto3.client("s3", endpoint_url=env.endpoints.aws_endpoint_url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing",
                          config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
        store = S3CertificateStore(s3, bucket)
        db = Database(env.database_url)
        enrollments = _seed(db, N)

        renderer.render(_snapshot("warm up"))  # font coverage caches, imports
        render_s, render_laps = _timed(renderer.render, [_snapshot(f"Zoë Ångström {i}") for i in range(N)])
        cjk_s, cjk_laps = _timed(renderer.render, [_snapshot(f"王小明 {i}") for i in range(N_CJK)])
        pdf = renderer.render(_snapshot("Zoë Ångström"))
        put_s, put_laps = _timed(lambda i: store.put(f"bench/{secrets.token_hex(6)}-{i}.pdf", pdf), list(range(N)))

        def issue(enrollment: uuid.UUID) -> None:
            event = new_event("course.completed", enrollment, {"enrollment_id": str(enrollment)},
                              aggregate_type="enrollment")
            with db.transaction() as conn:
                result = issue_for_completion(conn, event, renderer=renderer, store=store, public_base_url=PUBLIC)
            assert result.created and result.code == code_for_issuance(event.id)

        issue_s, issue_laps = _timed(issue, enrollments)
        stored = s3.head_object(Bucket=bucket, Key=certificate_key(
            db.connection().execute("SELECT code FROM lms.certificates WHERE enrollment_id = %s",
                                    (enrollments[-1],)).fetchone()["code"]))
        db.close()

    render_rate = N / render_s

    def row(step: str, count: int, seconds: float, laps: list[float]) -> dict[str, Any]:
        rate = count / seconds
        return {"step": step, "count": count, "per second": rate, "median ms": median(laps),
                "p95 ms": percentile(laps, 95), "x render-only rate": rate / render_rate}

    rows = [
        row("render only (Latin name)", N, render_s, render_laps),
        row("render only (CJK name: + fallback font)", N_CJK, cjk_s, cjk_laps),
        row("bare S3 put of the same PDF (baseline)", N, put_s, put_laps),
        row("full issuance: facts + insert + render + put + outbox + commit", N, issue_s, issue_laps),
    ]
    return Section(
        title="Certificates: rendered and stored per second",
        rows=rows,
        notes=(f"One process, one core, sequential. PDF size {len(pdf):,} bytes (stored object "
               f"{stored['ContentLength']:,} bytes). S3 is moto on 127.0.0.1:4566, Postgres the embedded server. "
               "Full issuance is what CertificatesFunction does per course.completed, minus Kafka; its rate over "
               "render-only shows how much the transaction and the put add to rendering."),
        order=70,
    )
