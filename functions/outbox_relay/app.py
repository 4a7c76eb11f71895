"""OutboxRelayFunction: fired every minute by EventBridge; drains lms.outbox to Kafka until the
invocation's time budget is nearly spent. The logic lives in `smartcourse.relay`.

The scheduled event carries nothing the relay needs. An optional `max_duration_s` (top level, as
an EventBridge rule `Input`, or in `detail`) bounds this invocation's loop, for one-shot local runs.
"""

from __future__ import annotations

# isort: off
from smartcourse import coldstart  # first: the imports below run without the garbage collector
# isort: on

from typing import Any

from smartcourse.container import container, database_for
from smartcourse.observability import logger, metrics
from smartcourse.relay import Relay, RelaySettings
from smartcourse.settings import load_settings


@container
def relay() -> Relay:
    """The relay, built on the first invocation from RelaySettings: two connections, so that the
    next batch is selected while the current one is sent (smartcourse.relay.Relay)."""
    settings = load_settings(RelaySettings)
    return Relay(settings, database_for(settings, "smartcourse-outbox-relay"),
                 second_database=database_for(settings, "smartcourse-outbox-relay"))


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

coldstart.loaded()  # last: freeze what the import made, collection back on
