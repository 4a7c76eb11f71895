"""OutboxRelayFunction: fired every minute by EventBridge; drains lms.outbox to Kafka until the
invocation's time budget is nearly spent. The logic lives in `smartcourse.relay`.

The scheduled event carries nothing the relay needs. An optional `max_duration_s` (top level, as
an EventBridge rule `Input`, or in `detail`) bounds this invocation's loop, for one-shot local runs.
"""

from __future__ import annotations

import functools
from typing import Any

from smartcourse.db import Database
from smartcourse.observability import logger, metrics
from smartcourse.relay import Relay, RelaySettings
from smartcourse.settings import load_settings, resolve_database_url


@functools.cache
def relay() -> Relay:
    settings = load_settings(RelaySettings)
    database = Database(resolve_database_url(settings), connect_timeout=settings.database_connect_timeout,
                        application_name="smartcourse-outbox-relay")
    return Relay(settings, database)


def _max_duration(event: Any) -> float | None:
    if not isinstance(event, dict):
        return None
    detail = event.get("detail")
    value = event.get("max_duration_s", detail.get("max_duration_s") if isinstance(detail, dict) else None)
    return float(value) if isinstance(value, int | float) and value > 0 else None


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    stats = relay().run(context.get_remaining_time_in_millis, max_duration_s=_max_duration(event))
    logger.info("relay run finished", extra={"published": stats.published, "passes": stats.passes,
                                             "parked": stats.parked, "failed": stats.failed,
                                             "pruned": stats.pruned})
    return {"published": stats.published, "parked": stats.parked, "failed": stats.failed,
            "passes": stats.passes, "pruned": stats.pruned}
