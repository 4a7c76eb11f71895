"""The push of xAPI statements to an LRS, against a fake LRS (http.server on 127.0.0.1, a random
port) and the real database: statements made by the real AnalyticsFunction consumer, pushed by its
XapiSync schedule (the real handler) or by `xapi_sync.push` with a chosen clock. Each statement is
accepted once, with the version header and the Basic credentials; a batch the LRS refuses is split
and the statement at fault parked with the LRS's reason (a row, a metric, a log line); a 500 is tried
again after the backoff, never before; no answer at all is a failure too."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest

from smartcourse import observability as obs
from smartcourse.analytics import lrs, xapi, xapi_sync
from smartcourse.container import reset_all
from smartcourse.db import Database
from smartcourse.events import EventEnvelope, new_event
from testkit.msk import msk_event
from tests.conftest import free_port
from tests.integration.analytics.conftest import Ctx
from tests.integration.analytics.test_xapi_asked import SCHEDULED

pytestmark = pytest.mark.integration

Answer = Callable[[list[str]], tuple[int, Any]]


class FakeLrs:
    """POST /xapi/statements: `answer(ids)` -> (status, JSON body); every request is kept."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        self.auth: str | None = None  # the Authorization header of the request being answered
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                ids = [st["id"] for st in body]
                fake.auth = self.headers.get("Authorization")
                status, reply = fake.answer(ids)
                fake.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "ids": ids,
                        "status": status,
                        "statements": body,
                    }
                )
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/xapi"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def accepted(self) -> list[str]:
        return [i for r in self.requests if 200 <= r["status"] < 300 for i in r["ids"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def ok(ids: list[str]) -> tuple[int, Any]:
    return 200, ids


@pytest.fixture
def database(in_process_env: dict[str, str]) -> Iterator[Database]:
    db = Database(in_process_env["DATABASE_URL"], application_name="lrs-tests")
    yield db
    db.close()


def enrolments(fn: Any, env: dict[str, str], n: int) -> list[EventEnvelope]:
    """n learners enrol in a new course through the consumer: n `registered` statements."""
    course = uuid.uuid4()
    events = [
        new_event(
            "enrollment.created",
            uuid.uuid4(),
            {
                "enrollment_id": str(uuid.uuid4()),
                "user_id": str(uuid.uuid4()),
                "course_id": str(course),
                "course_version": 1,
                "enrolled_at": datetime.now(UTC).isoformat(),
            },
        )
        for _ in range(n)
    ]
    out = fn.handler(
        msk_event(events, f"{env['TOPIC_PREFIX']}.enrollment", first_offset=uuid.uuid4().int % 10**9), Ctx()
    )
    assert out == {"batchItemFailures": []}, out
    return events


def all_statement_ids(db: psycopg.Connection[Any]) -> set[str]:
    return {str(r["statement_id"]) for r in db.execute("SELECT statement_id FROM analytics.statements").fetchall()}


def test_the_schedule_pushes_each_statement_once_and_parks_what_the_lrs_refuses(
    fn: Any,
    db: psycopg.Connection[Any],
    in_process_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = enrolments(fn, in_process_env, 7)
    bad = str(xapi.statement_id(events[4].id))
    fake = FakeLrs(
        lambda ids: (400, {"message": "actor.account.homePage: not allowed here"}) if bad in ids else ok(ids)
    )
    try:
        monkeypatch.setenv("XAPI_LRS_URL", fake.url)
        monkeypatch.setenv("XAPI_LRS_CREDENTIALS", "lrs-key:lrs-secret")
        monkeypatch.setenv("XAPI_LRS_BATCH", "3")
        reset_all()
        expected = all_statement_ids(db)  # this session's statements so far, ours included
        assert {str(xapi.statement_id(e.id)) for e in events} <= expected
        capsys.readouterr()
        runs = []
        for _ in range(20):  # (a write transaction still open elsewhere in the cluster holds statements back)
            runs.append(fn.handler(SCHEDULED, Ctx())["push"])
            if set(fake.accepted()) | {bad} >= expected:
                break
        emitted = capsys.readouterr().out
        accepted = fake.accepted()
        assert sorted(accepted) == sorted(set(accepted)), "a statement was accepted twice"
        assert set(accepted) == expected - {bad}
        for r in fake.requests:
            assert r["path"] == "/xapi/statements"
            assert r["headers"]["x-experience-api-version"] == "1.0.3"
            assert r["headers"]["authorization"] == "Basic " + base64.b64encode(b"lrs-key:lrs-secret").decode()
            assert r["headers"]["content-type"] == "application/json"
            assert 1 <= len(r["ids"]) <= 3
        assert [bad] in [r["ids"] for r in fake.requests]  # the refused batch was split down to it
        assert sum(run["parked"] for run in runs) == 1
        parked = db.execute(
            "SELECT statement_id, status, reason FROM analytics.xapi_push_parked WHERE endpoint = %s",
            (lrs.statements_url(fake.url),),
        ).fetchall()
        assert parked == [
            {"statement_id": uuid.UUID(bad), "status": 400, "reason": "actor.account.homePage: not allowed here"}
        ]
        assert '"XapiPushParked":[1.0]' in emitted  # the metric (EMF) and the log line
        assert any("refused by the LRS: parked" in r.getMessage() for r in caplog.records)
        state = db.execute(
            "SELECT pushed, parked, failures, last_error FROM analytics.xapi_push WHERE endpoint = %s",
            (lrs.statements_url(fake.url),),
        ).fetchone()
        assert state == {"pushed": len(expected) - 1, "parked": 1, "failures": 0, "last_error": None}

        # Nothing new: the next run sends nothing; a new statement is sent alone, once
        sent = len(fake.requests)
        assert fn.handler(SCHEDULED, Ctx())["push"]["requests"] == 0 and len(fake.requests) == sent
        [new] = enrolments(fn, in_process_env, 1)
        for _ in range(20):
            fn.handler(SCHEDULED, Ctx())
            if str(xapi.statement_id(new.id)) in fake.accepted():
                break
        assert fake.accepted().count(str(xapi.statement_id(new.id))) == 1
        assert len(fake.accepted()) == len(set(fake.accepted()))
    finally:
        fake.close()


def test_a_failing_lrs_is_tried_again_after_the_backoff(
    fn: Any, db: psycopg.Connection[Any], database: Database, in_process_env: dict[str, str]
) -> None:
    events = enrolments(fn, in_process_env, 3)
    answers = iter([(500, {"message": "database unavailable"})])
    fake = FakeLrs(lambda ids: next(answers, None) or ok(ids))
    client = lrs.HttpLrs(lrs.statements_url(fake.url), None, timeout_s=5)
    t0 = datetime.now(UTC)

    def push(at: datetime) -> xapi_sync.PushResult:
        return xapi_sync.push(
            database,
            client,
            base="https://x.example/xapi",
            home_page="https://x.example",
            batch=100,
            backoff_s=60,
            backoff_max_s=3600,
            now=at,
        )

    try:
        expected = all_statement_ids(db)
        obs.metrics.clear_metrics()
        failed = push(t0)
        assert failed.failure == "500: database unavailable" and failed.accepted == 0
        assert failed.retry_at == t0 + timedelta(seconds=60)
        assert obs.metrics.metric_set["XapiPushFailing"]["Value"] == [1.0]
        obs.metrics.clear_metrics()
        state = db.execute(
            "SELECT failures, last_error, retry_at, leased_until FROM analytics.xapi_push WHERE endpoint = %s",
            (client.endpoint,),
        ).fetchone()
        assert state == {
            "failures": 1,
            "last_error": "500: database unavailable",
            "retry_at": t0 + timedelta(seconds=60),
            "leased_until": None,
        }
        assert push(t0 + timedelta(seconds=30)).skipped and len(fake.requests) == 1  # inside the backoff
        retried = t0 + timedelta(seconds=61)
        for _ in range(20):
            push(retried)
            if set(fake.accepted()) >= expected:
                break
            retried += timedelta(seconds=1)
        accepted = fake.accepted()
        assert set(accepted) == expected and len(accepted) == len(set(accepted))  # each once, after the 500
        assert fake.requests[0]["status"] == 500 and set(fake.requests[0]["ids"]) <= expected
        assert {str(xapi.statement_id(e.id)) for e in events} <= set(accepted)
        assert db.execute(
            "SELECT failures, last_error, retry_at FROM analytics.xapi_push WHERE endpoint = %s", (client.endpoint,)
        ).fetchone() == {"failures": 0, "last_error": None, "retry_at": None}
    finally:
        obs.metrics.clear_metrics()
        fake.close()

    # No answer at all (nothing listens on the port) is a failure of the endpoint: nothing settled
    closed = lrs.HttpLrs(f"http://127.0.0.1:{free_port()}/xapi/statements", None, timeout_s=2)
    none = xapi_sync.push(
        database,
        closed,
        base="https://x.example/xapi",
        home_page="https://x.example",
        batch=100,
        backoff_s=60,
        backoff_max_s=3600,
    )
    assert none.failure is not None and none.failure.startswith("no answer: URLError") and none.accepted == 0
    obs.metrics.clear_metrics()


def test_credentials_come_from_the_secret_and_are_read_again_when_refused(
    fn: Any,
    in_process_env: dict[str, str],
    stack_endpoints: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    from smartcourse import secrets

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sm = boto3.client("secretsmanager", endpoint_url=stack_endpoints.aws_endpoint_url, region_name="us-east-1")
    arn = sm.create_secret(Name=f"test/lrs-{uuid.uuid4()}", SecretString=json.dumps({"key": "k1", "secret": "old"}))[
        "ARN"
    ]
    right = "Basic " + base64.b64encode(b"k1:new").decode()
    fake = FakeLrs(lambda ids: ok(ids) if fake.auth == right else (401, {"message": "bad credentials"}))
    try:
        monkeypatch.setenv("XAPI_LRS_URL", fake.url)
        monkeypatch.delenv("XAPI_LRS_CREDENTIALS", raising=False)
        monkeypatch.setenv("XAPI_LRS_CREDENTIALS_ARN", arn)
        monkeypatch.setenv("XAPI_LRS_BACKOFF_S", "0")  # try again at the next run
        reset_all()
        enrolments(fn, in_process_env, 1)
        refused = fn.handler(SCHEDULED, Ctx())["push"]
        assert (refused["failure_status"], refused["accepted"], refused["parked"]) == (401, 0, 0), refused
        sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"key": "k1", "secret": "new"}))  # rotated
        for _ in range(20):
            pushed = fn.handler(SCHEDULED, Ctx())["push"]
            if pushed["failure"] is None and pushed["requests"] and pushed["batches"] and not pushed["skipped"]:
                break
        assert pushed["failure"] is None and pushed["accepted"] > 0, pushed
        assert {r["headers"]["authorization"] for r in fake.requests} == {
            "Basic " + base64.b64encode(b"k1:old").decode(),
            right,
        }
    finally:
        secrets.forget()
        fake.close()
