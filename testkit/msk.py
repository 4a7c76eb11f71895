"""An MSK event (what Lambda's MSK event source mapping delivers) around event envelopes, for
tests and benchmarks that call a consumer's handler without Kafka."""

from __future__ import annotations

import base64
from typing import Any

from smartcourse.events import EventEnvelope


def msk_event(envelopes: list[EventEnvelope], topic: str, partition: int = 0, first_offset: int = 0) -> dict[str, Any]:
    records = []
    for i, env in enumerate(envelopes):
        records.append({
            "topic": topic, "partition": partition, "offset": first_offset + i, "timestamp": 1764150000000,
            "timestampType": "CREATE_TIME",
            "key": base64.b64encode(env.aggregate_id.encode()).decode(),
            "value": base64.b64encode(env.model_dump_json().encode()).decode(),
            "headers": [{"event_id": list(str(env.id).encode())}],
        })
    return {"eventSource": "aws:kafka", "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/x/y",
            "bootstrapServers": "127.0.0.1:9092", "records": {f"{topic}-{partition}": records}}
