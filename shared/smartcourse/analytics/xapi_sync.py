"""AnalyticsFunction's XapiSync schedule (every minute; docs/analytics.md, "xAPI export").

1. `record_asked`: learners' questions to the course assistant become `asked` statements. The AI
   side owns them (ai.asked_questions, written with the answer); they are read after a cursor through
   `readonly.ai_questions.asked_after`, which hands over the asker's pseudonym, never the user id or
   the question text. One statement per question, its id the UUID v5 of the answer message's id, so
   reading a question again (a run that stopped before saving its cursor, two runs at once) adds
   nothing. An erased learner's questions make none (`repo.is_erased`, as every event handler).
2. `push`: with an LRS configured (XAPI_LRS_URL), the statements not yet settled at that endpoint,
   in the order their transactions made them (`repo.statements_to_push`), are POSTed in batches
   (`lrs.deliver`: refused batches split, a statement refused alone parked with the LRS's reason,
   the endpoint failing stops the run and backs off). One invocation pushes at a time (a lease on
   the endpoint's row)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from smartcourse.analytics import domain, lrs, xapi
from smartcourse.analytics import repository as repo
from smartcourse.db import Database
from smartcourse.observability import count, logger
from smartcourse.readonly import ai_questions

TimeLeft = Callable[[], bool]


def _always() -> bool:
    return True


@dataclass
class AskedResult:
    read: int = 0  # questions read after the cursor
    added: int = 0  # new asked statements
    erased: int = 0  # questions of erased learners: no statement


def record_asked(
    db: Database, key: bytes, *, settle_s: float, batch: int, max_pages: int = 20, time_left: TimeLeft = _always
) -> AskedResult:
    """New questions -> `asked` statements, a page (one transaction, the cursor saved with it) at a time."""
    result = AskedResult()
    with db.transaction() as conn:
        after = repo.asked_cursor(conn)
    for _ in range(max_pages):
        if not time_left():
            break
        with db.transaction() as conn:
            facts = ai_questions.asked_after(
                conn, after, settle_s=settle_s, limit=batch, pseudonym=lambda user_id: domain.pseudonym(key, user_id)
            )
            erased: dict[uuid.UUID, bool] = {}
            for f in facts:
                if f.learner not in erased:
                    erased[f.learner] = repo.is_erased(conn, f.learner)
                if erased[f.learner]:
                    result.erased += 1
                    continue
                if repo.add_statement(
                    conn,
                    xapi.statement_id(f.message_id),
                    f.message_id,
                    f.course_id,
                    f.learner,
                    "asked",
                    f.asked_at,
                    lesson_id=f.lesson_id,
                ):
                    result.added += 1
            if facts:
                after = (facts[-1].asked_at, facts[-1].message_id)
                repo.advance_asked_cursor(conn, *after)
        result.read += len(facts)
        if len(facts) < batch:
            break
    count("XapiAskedRecorded", result.added)
    return result


@dataclass
class PushResult:
    endpoint: str
    skipped: bool = False  # another invocation holds the endpoint, or its backoff runs
    batches: int = 0
    requests: int = 0
    accepted: int = 0
    duplicates: int = 0  # already at the LRS (409 for the statement alone)
    parked: int = 0  # refused for good: analytics.xapi_push_parked
    failure: str | None = None  # the endpoint failed: tried again after `retry_at`
    failure_status: int | None = None  # its HTTP status (None: no answer)
    retry_at: datetime | None = None


def push(
    db: Database,
    client: lrs.Lrs,
    *,
    base: str,
    home_page: str,
    batch: int,
    backoff_s: float,
    backoff_max_s: float,
    lease_s: float = 120.0,
    max_batches: int = 100,
    now: datetime | None = None,
    time_left: TimeLeft = _always,
) -> PushResult:
    """Send the statements not yet settled at `client.endpoint`, `batch` per request, until none is
    left, the endpoint fails, time runs out or `max_batches` were sent."""
    now = now or datetime.now(UTC)
    endpoint = client.endpoint
    result = PushResult(endpoint)
    with db.transaction() as conn:
        state = repo.claim_push(conn, endpoint, now, now + timedelta(seconds=lease_s))
    if not state["claimed"]:
        result.skipped = True
        count("XapiPushFailing", int(state["failures"] > 0))  # waiting out a failing endpoint's backoff
        return result
    after: tuple[str, uuid.UUID] = (state["after_tx"], state["after_id"])
    failures, last_error = int(state["failures"]), state["last_error"]
    try:
        for _ in range(max_batches):
            if not time_left():
                break
            with db.transaction() as conn:
                rows = repo.statements_to_push(conn, after, batch)
            if not rows:
                break
            txs = [r.pop("tx") for r in rows]
            statements = [xapi.statement(xapi.Row(**r), base=base, home_page=home_page) for r in rows]
            out = lrs.deliver(statements, client.post, time_left)
            if out.settled:
                after = (txs[out.settled - 1], rows[out.settled - 1]["statement_id"])
            retry_at = None
            if out.failure is not None:
                failures, last_error = failures + 1, out.failure
                retry_at = now + timedelta(seconds=lrs.backoff_s(failures, backoff_s, backoff_max_s))
            elif out.settled:
                failures, last_error = 0, None
            with db.transaction() as conn:
                repo.save_push(
                    conn,
                    endpoint,
                    after,
                    accepted=out.accepted,
                    duplicates=out.duplicates,
                    parked=out.parked,
                    failures=failures,
                    last_error=last_error,
                    retry_at=retry_at,
                )
            result.batches += 1
            result.requests += out.requests
            result.accepted += out.accepted
            result.duplicates += out.duplicates
            result.parked += len(out.parked)
            for statement_id, status, reason in out.parked:
                logger.warning(
                    "xAPI statement refused by the LRS: parked",
                    extra={"statement_id": statement_id, "status": status, "reason": reason, "endpoint": endpoint},
                )
            if out.failure is not None:
                result.failure, result.failure_status, result.retry_at = out.failure, out.failure_status, retry_at
                logger.warning(
                    "the LRS failed: the push is tried again later",
                    extra={
                        "endpoint": endpoint,
                        "error": out.failure,
                        "failures": failures,
                        "retry_at": retry_at.isoformat() if retry_at else None,
                    },
                )
                break
            if out.out_of_time or len(rows) < batch:
                break
    finally:
        with db.transaction() as conn:
            repo.release_push(conn, endpoint)
    count("XapiPushed", result.accepted)
    count("XapiPushDuplicates", result.duplicates)
    count("XapiPushParked", result.parked)
    count("XapiPushFailing", int(failures > 0))  # this run left the endpoint failing
    return result


def sync(
    db: Database,
    key: bytes,
    *,
    settle_s: float,
    asked_batch: int,
    client: lrs.Lrs | None,
    base: str,
    home_page: str,
    lrs_batch: int,
    backoff_s: float,
    backoff_max_s: float,
    time_left: TimeLeft = _always,
) -> dict[str, Any]:
    """One XapiSync run: the asked statements, then the push when an LRS is configured."""
    out: dict[str, Any] = {
        "asked": asdict(record_asked(db, key, settle_s=settle_s, batch=asked_batch, time_left=time_left))
    }
    if client is not None:
        pushed = push(
            db,
            client,
            base=base,
            home_page=home_page,
            batch=lrs_batch,
            backoff_s=backoff_s,
            backoff_max_s=backoff_max_s,
            time_left=time_left,
        )
        out["push"] = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(pushed).items()}
    return out
