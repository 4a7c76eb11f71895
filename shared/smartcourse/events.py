"""The event envelope every domain event travels in (outbox row, Kafka message, consumer).

type: `smartcourse.<aggregate>.<action>.v<N>`; the aggregate id is the Kafka key, so events of
one aggregate stay ordered in one partition. Topics are one per aggregate type.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

EVENT_TYPE_RE = re.compile(r"^smartcourse\.([a-z_]+)\.([a-z_]+)\.v([1-9][0-9]*)$")


class EventEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID
    type: str = Field(max_length=120)
    aggregate_type: str = Field(pattern=r"^[a-z_]{1,40}$")
    aggregate_id: str = Field(min_length=1, max_length=120)
    occurred_at: datetime
    correlation_id: str | None = Field(default=None, max_length=120)
    data: dict[str, Any]

    @field_validator("type")
    @classmethod
    def _versioned(cls, value: str) -> str:
        if not EVENT_TYPE_RE.match(value):
            raise ValueError("must look like smartcourse.<aggregate>.<action>.v<N>")
        return value

    @property
    def name(self) -> str:
        """The unversioned name, e.g. `course.published`."""
        m = EVENT_TYPE_RE.match(self.type)
        assert m is not None
        return f"{m.group(1)}.{m.group(2)}"

    @property
    def version(self) -> int:
        m = EVENT_TYPE_RE.match(self.type)
        assert m is not None
        return int(m.group(3))


def event_type(name: str, version: int = 1) -> str:
    """`course.published` -> `smartcourse.course.published.v1`."""
    return f"smartcourse.{name}.v{version}"


def new_event(name: str, aggregate_id: str | uuid.UUID, data: dict[str, Any], *,
              correlation_id: str | None = None, version: int = 1,
              aggregate_type: str | None = None) -> EventEnvelope:
    agg_type = aggregate_type or name.split(".", 1)[0]
    return EventEnvelope(
        id=uuid.uuid4(),
        type=event_type(name, version),
        aggregate_type=agg_type,
        aggregate_id=str(aggregate_id),
        occurred_at=datetime.now(UTC),
        correlation_id=correlation_id,
        data=data,
    )


def topic_for(aggregate_type: str, prefix: str) -> str:
    """One topic per aggregate type: `<prefix>.<aggregate>`; the prefix carries the stage."""
    return f"{prefix}.{aggregate_type}"


def dead_letter_topic(prefix: str) -> str:
    return f"{prefix}.dlq"
