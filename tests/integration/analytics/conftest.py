"""AnalyticsFunction on the real stack: the LMS API in-process writes the events (lms.outbox), the
real outbox relay publishes them to Kafka, a Kafka consumer reads them back as the MSK mapping
delivers them, and the real AnalyticsFunction handler consumes them and serves the reports."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest

from devstack.triggers import msk_event
from smartcourse.ai.bootstrap import build_service as build_ingestion
from smartcourse.ai.embeddings import MiniLMEmbedder
from smartcourse.ai.ingestion import IngestSettings
from smartcourse.assistant.bootstrap import build_service as build_assistant
from smartcourse.assistant.service import AssistantService
from smartcourse.assistant.settings import AssistantSettings
from smartcourse.auth import Principal
from smartcourse.container import reset_all
from smartcourse.db import Database, register_pgvector
from testkit.courses import Material, MemoryObjects
from tests.conftest import load_function_module
from tests.integration.lms.conftest import api, api_module, db  # noqa: F401  (fixtures)

ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/local/00000000-0000-0000-0000-000000000000-1"


class Ctx:
    """The Lambda context the handlers read."""

    function_name = "AnalyticsFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:AnalyticsFunction"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 28_000


@pytest.fixture
def fn(api_module: Any, in_process_env: dict[str, str], provisioned: Any) -> Any:  # noqa: F811
    """AnalyticsFunction's module, with its container reset for this test's environment."""
    module = load_function_module("analytics")
    reset_all()
    return module


@pytest.fixture
def relay(in_process_env: dict[str, str], provisioned: Any) -> Any:
    """Publish every committed outbox row of this session's database to Kafka (the real relay)."""
    module = load_function_module("outbox_relay")

    def run() -> dict[str, Any]:
        out: dict[str, Any] = module.handler({"source": "aws.events", "max_duration_s": 3}, Ctx())
        assert out["failed"] == 0 and out["parked"] == 0, out
        return out
    return run


def shift(conn: psycopg.Connection[Any], event: str, field: str, at: datetime, **where: str) -> None:
    """Inject a time (simulated days instead of sleeping): the not yet published outbox row of
    `event` whose data match `where` gets `field` and its occurred_at set to `at`."""
    rows = conn.execute("SELECT id, payload FROM lms.outbox WHERE event_type = %s AND published_at IS NULL",
                      (f"smartcourse.{event}.v1",)).fetchall()
    [row] = [r for r in rows if all(r["payload"]["data"].get(k) == v for k, v in where.items())]
    payload = row["payload"]
    payload["data"][field] = at.isoformat()
    payload["occurred_at"] = at.isoformat()
    conn.execute("UPDATE lms.outbox SET payload = %s, occurred_at = %s WHERE id = %s",
               (json.dumps(payload), at, row["id"]))


TOPICS = ("enrollment", "course", "user")  # the aggregates whose topics the analytics mapping reads


def outbox_ids(conn: psycopg.Connection[Any], **where: str) -> list[str]:
    """The ids of the events AnalyticsFunction reads (not, say, `asset.created`) whose data match `where`."""
    rows = conn.execute("SELECT payload FROM lms.outbox WHERE aggregate_type = ANY(%s) ORDER BY seq",
                        (list(TOPICS),)).fetchall()
    return [r["payload"]["id"] for r in rows if all(r["payload"]["data"].get(k) == v for k, v in where.items())]


class Kafka:
    """Reads the stage's topics from the start, as the analytics mapping does (its own group)."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        from kafka import KafkaConsumer

        self.bootstrap = bootstrap
        self.consumer = KafkaConsumer(
            *(f"{prefix}.{t}" for t in TOPICS), bootstrap_servers=bootstrap,
            group_id=f"analytics-test-{secrets.token_hex(4)}", auto_offset_reset="earliest",
            enable_auto_commit=False, consumer_timeout_ms=1000)
        self.seen: dict[str, Any] = {}

    def records(self, ids: list[str], timeout_s: float = 60) -> list[Any]:
        """The records carrying these event ids, in each partition's order (waits for them)."""
        wanted = set(ids)
        deadline = time.monotonic() + timeout_s
        while not wanted <= set(self.seen) and time.monotonic() < deadline:
            for recs in self.consumer.poll(timeout_ms=500).values():
                for r in recs:
                    self.seen.setdefault(json.loads(r.value)["id"], r)
        missing = wanted - set(self.seen)
        assert not missing, f"{len(missing)} events never reached Kafka"
        return sorted((self.seen[i] for i in wanted), key=lambda r: (r.topic, r.partition, r.offset))

    def batch(self, ids: list[str], *, enrollment_first: bool = True) -> dict[str, Any]:
        """One MSK event as the mapping delivers it (enrolment records before the course's when asked:
        the consumer cannot rely on the order of two topics)."""
        recs = self.records(ids)
        recs.sort(key=lambda r: (not r.topic.endswith(".enrollment")) if enrollment_first else 0)
        return msk_event(recs, self.bootstrap, ARN)

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def kafka(in_process_env: dict[str, str], provisioned: Any) -> Any:
    k = Kafka(in_process_env["KAFKA_BOOTSTRAP_SERVERS"], in_process_env["TOPIC_PREFIX"])
    yield k
    k.close()


def http(fn: Any, method: str, resource: str, token: str | None, query: dict[str, str] | None = None,
         **params: str) -> tuple[int, Any]:
    """Call the function as API Gateway's REST proxy integration does; (status, JSON body)."""
    path = resource
    for k, v in params.items():
        path = path.replace("{" + k + "}", v)
    event = {"httpMethod": method, "resource": resource, "path": path, "pathParameters": params or None,
             "queryStringParameters": query, "headers": {"Authorization": f"Bearer {token}"} if token else {},
             "requestContext": {"requestId": str(uuid.uuid4()), "httpMethod": method, "resourcePath": resource},
             "body": None, "isBase64Encoded": False}
    out = fn.handler(event, Ctx())
    return out["statusCode"], json.loads(out["body"])


# --- Content gaps: learners asking the real AssistantService, versions indexed by the real ingestion ---

ECLIPSES = Material("eclipses.md", "text/markdown", b"""# Lunar eclipses

## How an eclipse happens

A lunar eclipse happens when the Earth passes between the Sun and the Moon and the Earth's shadow falls on the Moon.
It can only happen at full moon, when the Sun, the Earth and the Moon are aligned.

## How long an eclipse lasts

A lunar eclipse lasts a few hours from the first touch of the penumbra to the last.
Totality, when the Moon is entirely inside the umbra, lasts at most about one hour and forty minutes.
During totality the Moon looks red, because the Earth's atmosphere bends red sunlight into the shadow.
""", "Lunar eclipses")

ECLIPSE = ["Why does the Moon turn red during an eclipse?",
           "Why is the Moon red during a lunar eclipse? my email is ada.l@example.org",
           "What colour is the Moon in a total eclipse?",
           "Why does the Moon turn red during an eclipse?"]  # the first learner again, the same words
EXAM = ["When is the final exam of this course?", "What date is the final exam?"]
COVERED = [("Why are there two high tides every day?", "moon.md"), ("How old is the crater Tycho?", "surface.md")]


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture
def stack(in_process_env: dict[str, str], embedder: MiniLMEmbedder) -> Iterator[dict[str, Any]]:
    url = in_process_env["DATABASE_URL"]
    database = Database(url, application_name="gap-tests", configure=register_pgvector)
    objects = MemoryObjects()
    ingestion = build_ingestion(IngestSettings(database_url=url, assets_bucket="unused"), embedder=embedder,
                                objects=objects,
                                database=Database(url, application_name="gap-ingest", configure=register_pgvector))
    assistant = build_assistant(AssistantSettings(database_url=url, jwt_secret="x" * 32, groq_api_key=None,
                                                  groq_api_key_secret_arn=None, ask_rate_limit_per_minute=1000),
                                embedder=embedder, database=database)
    yield {"db": database, "objects": objects, "ingestion": ingestion, "assistant": assistant, "url": url,
           "secret": in_process_env["JWT_SECRET"], "prefix": in_process_env["TOPIC_PREFIX"]}
    ingestion.database.close()
    database.close()


def ask(assistant: AssistantService, who: uuid.UUID, course_id: uuid.UUID, question: str) -> dict[str, Any]:
    """A learner's question to the course assistant (extractive mode: no model call)."""
    return assistant.ask(Principal(who, "student"), course_id, question).body


def gap_of(database: Database, body: dict[str, Any]) -> str | None:
    with database.transaction() as conn:
        row = conn.execute("SELECT gap FROM ai.asked_questions WHERE message_id = %s", (body["message_id"],)).fetchone()
    assert row is not None, body
    return row["gap"]  # type: ignore[no-any-return]


def evidence_of(database: Database, body: dict[str, Any]) -> Any:
    with database.transaction() as conn:
        row = conn.execute("SELECT retrieval -> 'evidence' AS e FROM ai.messages WHERE id = %s",
                           (body["message_id"],)).fetchone()
    return row["e"] if row else None
