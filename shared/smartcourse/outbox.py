"""Writing domain events to the outbox, inside the caller's transaction."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from smartcourse.events import EventEnvelope
from smartcourse.observability import current_traceparent

_INSERT = """
INSERT INTO lms.outbox (id, event_type, aggregate_type, aggregate_id, correlation_id, occurred_at, payload,
                        traceparent)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
"""


def write_event(conn: psycopg.Connection[Any], event: EventEnvelope) -> None:
    """Insert `event` in the caller's transaction: it is published iff the transaction commits. The
    trace context of the work in progress (`observability.current_traceparent`) goes with it."""
    conn.execute(
        _INSERT,
        (
            event.id,
            event.type,
            event.aggregate_type,
            event.aggregate_id,
            event.correlation_id,
            event.occurred_at,
            Jsonb(event.model_dump(mode="json")),
            current_traceparent(),
        ),
    )
