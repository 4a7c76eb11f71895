"""AnalyticsFunction: learning analytics (issue 18, docs/analytics.md). Three kinds of event:

- MSK (the enrollment, course, user and certificate topics): domain events -> incremental rollups in
  analytics.*, through the consumer framework (each record in one transaction with its
  analytics.processed_events row; failures counted in analytics.consumer_failures, parked on
  `<prefix>.dlq` after MAX_ATTEMPTS). Event types it does not handle are acknowledged.
- API Gateway (REST proxy): the reporting routes (the course's instructor and admins) and the
  time-on-task heartbeat (an enrolled learner), `analytics_routes.dispatch`.
- Schedule (``source == "aws.events"``, XapiSync, every minute): learners' questions to the assistant
  -> `asked` xAPI statements, then, when XAPI_LRS_URL is set, the push of new statements to that LRS
  (`smartcourse.analytics.xapi_sync`).
Settings, the database and the pseudonym key are read on the first invocation; the LRS credentials
on the first scheduled one; the reporting API (`analytics_routes`, its response models) and the JWT
secret on the first HTTP request, so that the consumer's invocations load neither (issue 19).
"""

from __future__ import annotations

# isort: off
from smartcourse import coldstart  # first: the imports below run without the garbage collector
# isort: on

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smartcourse import secrets, xray
from smartcourse.analytics import lrs, xapi_sync
from smartcourse.analytics.projection import handlers
from smartcourse.analytics.settings import AnalyticsSettings
from smartcourse.aws import location_of
from smartcourse.consumer import Consumer
from smartcourse.container import container, database_for
from smartcourse.db import Database
from smartcourse.http import cors_headers_from
from smartcourse.kafka_client import KafkaDeadLetterSink
from smartcourse.observability import child_traceparent, correlation_scope, logger, metrics
from smartcourse.settings import load_settings

if TYPE_CHECKING:
    from analytics_routes import Context


@dataclass(frozen=True)
class Deps:
    settings: AnalyticsSettings
    database: Database
    pseudonym_key: bytes
    consumer: Consumer


@dataclass(frozen=True)
class Api:
    """What the HTTP routes need besides Deps."""

    context: Context
    jwt_secret: str


def pseudonym_key(s: AnalyticsSettings) -> bytes:
    """ANALYTICS_PSEUDONYM_KEY locally, the ANALYTICS_PSEUDONYM_KEY_ARN secret in AWS."""
    value = secrets.resolve(s.analytics_pseudonym_key, s.analytics_pseudonym_key_arn, location_of(s),
                            setting="ANALYTICS_PSEUDONYM_KEY", arn_setting="ANALYTICS_PSEUDONYM_KEY_ARN",
                            json_keys=("key",))
    assert value is not None  # required: resolve raises ConfigurationError instead
    return value.encode()


@container
def deps() -> Deps:
    """Built on the first invocation from AnalyticsSettings."""
    s = load_settings(AnalyticsSettings)
    database = database_for(s, "smartcourse-analytics")
    key = pseudonym_key(s)
    consumer = Consumer(s.consumer_name, lambda: database, dict(handlers(key)), schema="analytics",
                        max_attempts=s.max_attempts, dead_letter=KafkaDeadLetterSink(s),
                        transient_wait_s=s.transient_wait_s)
    return Deps(s, database, key, consumer)


@container
def api() -> Api:
    """Built on the first HTTP request: the routes' module with its response models, and the JWT
    secret (Secrets Manager in AWS), which the consumer's and the schedule's invocations never use."""
    from analytics_routes import Context

    from smartcourse.auth import resolve_jwt_secret

    d = deps()
    s = d.settings
    return Api(Context(d.database, d.pseudonym_key, s.learners_page_size, s.xapi_activity_base, s.xapi_home_page,
                       s.xapi_page_size), resolve_jwt_secret(s))


@container
def lrs_client() -> lrs.HttpLrs | None:
    """The LRS the statements are pushed to: None when XAPI_LRS_URL is unset (nothing is pushed).
    Credentials: XAPI_LRS_CREDENTIALS locally, the secret XAPI_LRS_CREDENTIALS_ARN in AWS (optional:
    an LRS may need none)."""
    s = deps().settings
    if not s.xapi_lrs_url:
        return None
    credentials = secrets.resolve(s.xapi_lrs_credentials, s.xapi_lrs_credentials_arn, location_of(s),
                                  setting="XAPI_LRS_CREDENTIALS", arn_setting="XAPI_LRS_CREDENTIALS_ARN",
                                  parse=lrs.basic_credentials, required=False)
    return lrs.HttpLrs(lrs.statements_url(s.xapi_lrs_url), credentials, s.xapi_lrs_timeout_s)


def _xapi_sync(remaining_ms: Any) -> dict[str, Any]:
    d = deps()
    s = d.settings
    margin_ms = (s.xapi_lrs_timeout_s + 3) * 1000  # a request started now still ends inside the timeout

    def time_left() -> bool:
        return remaining_ms is None or remaining_ms() > margin_ms

    out = xapi_sync.sync(d.database, d.pseudonym_key, settle_s=s.xapi_asked_settle_s,
                         asked_batch=s.xapi_asked_batch, client=lrs_client(), base=s.xapi_activity_base,
                         home_page=s.xapi_home_page, lrs_batch=s.xapi_lrs_batch, backoff_s=s.xapi_lrs_backoff_s,
                         backoff_max_s=s.xapi_lrs_backoff_max_s, time_left=time_left)
    if (out.get("push") or {}).get("failure_status") in (401, 403):  # credentials refused: read them again
        if s.xapi_lrs_credentials_arn:
            secrets.forget(s.xapi_lrs_credentials_arn)
        lrs_client.reset()
    return out


def _http(event: dict[str, Any]) -> dict[str, Any]:
    from analytics_routes import dispatch

    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    params = event.get("pathParameters") or {}
    cid_in = headers.get("x-correlation-id") or (event.get("requestContext") or {}).get("requestId")
    with correlation_scope(cid_in, traceparent=child_traceparent(headers.get("traceparent"))) as cid, \
            xray.subsegment(f"{event.get('httpMethod')} {event.get('resource')}", resource=event.get("resource"),
                            course_id=params.get("course_id"), correlation_id=cid) as annotate:
        response = dispatch(event, lambda: api().context, lambda: api().jwt_secret, cid)
        annotate(status=response["statusCode"])
    response["headers"].update(cors_headers_from(lambda: load_settings(AnalyticsSettings)))
    return response


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "httpMethod" in event or "resource" in event:
        return _http(event)
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if event.get("source") == "aws.events":
        return _xapi_sync(remaining_ms)
    return deps().consumer.handle(event, remaining_ms)

coldstart.loaded()  # last: freeze what the import made, collection back on
