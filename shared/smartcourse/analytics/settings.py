"""AnalyticsFunction settings (read on the first invocation through `load_settings`)."""

from __future__ import annotations

from pydantic import Field, field_validator

from smartcourse.auth import JwtSettings
from smartcourse.settings import CommonSettings, KafkaSettings


class AnalyticsSettings(CommonSettings, KafkaSettings, JwtSettings):
    consumer_name: str = Field(default="analytics", pattern=r"^[a-z0-9_.-]{1,60}$")
    # Attempts before the consumer parks a record on the dead-letter topic with its reason: every
    # retry the mapping gives (MaximumRetryAttempts 5 in template.yaml) + the first delivery.
    max_attempts: int = Field(default=6, ge=1, le=11)
    # How long one invocation retries a record while the database is out (the function's Timeout is
    # 28 s: it also answers API Gateway, which stops waiting at 29 s).
    transient_wait_s: float = Field(default=15.0, ge=0, le=20)
    # The key of the learners' pseudonyms (HMAC-SHA256 of the user id): a value locally
    # (ANALYTICS_PSEUDONYM_KEY), the generated secret AnalyticsPseudonymKey in AWS. Changing it
    # splits every learner in two: it is never rotated (docs/analytics.md).
    analytics_pseudonym_key: str | None = Field(default=None, min_length=32)
    analytics_pseudonym_key_arn: str | None = None
    # The learners listing: rows per page when the request does not say.
    learners_page_size: int = Field(default=50, ge=1, le=200)
    # xAPI export: the base of the Activity IRIs (courses, lessons) and the actors' account homePage
    # (the account name is the pseudonymous learner id).
    xapi_activity_base: str = Field(default="https://smartcourse.example/xapi", pattern=r"^https?://\S+$")
    xapi_home_page: str = Field(default="https://smartcourse.example", pattern=r"^https?://\S+$")
    xapi_page_size: int = Field(default=100, ge=1, le=500)

    # The XapiSync schedule (docs/analytics.md, "xAPI export"). `asked` statements: learners'
    # questions asked at least XAPI_ASKED_SETTLE_S ago (every transaction that could still add an
    # earlier question has ended: the assistant's are bounded by its 28 s timeout), read a page of
    # XAPI_ASKED_BATCH at a time.
    xapi_asked_settle_s: float = Field(default=120.0, ge=0, le=3600)
    xapi_asked_batch: int = Field(default=500, ge=1, le=5000)
    # The optional push to an LRS: its xAPI endpoint (statements are POSTed to <url>/statements);
    # unset = nothing is pushed. Basic credentials "key:secret": XAPI_LRS_CREDENTIALS locally, the
    # secret XAPI_LRS_CREDENTIALS_ARN in AWS ("key:secret" or {"key": ..., "secret": ...}).
    xapi_lrs_url: str | None = Field(default=None, pattern=r"^https?://[^\s?#]+$", max_length=500)
    xapi_lrs_credentials: str | None = Field(default=None, repr=False)
    xapi_lrs_credentials_arn: str | None = None
    # Statements per POST (an LRS rejects a batch as a whole: a refused one is split to find the
    # statement at fault), seconds per request, and the backoff after the endpoint failed (doubling
    # from XAPI_LRS_BACKOFF_S up to XAPI_LRS_BACKOFF_MAX_S).
    xapi_lrs_batch: int = Field(default=50, ge=1, le=500)
    xapi_lrs_timeout_s: float = Field(default=10.0, gt=0, le=20)
    xapi_lrs_backoff_s: float = Field(default=60.0, ge=0, le=3600)
    xapi_lrs_backoff_max_s: float = Field(default=3600.0, ge=0, le=86400)

    @field_validator("xapi_lrs_credentials")
    @classmethod
    def _key_and_secret(cls, value: str | None) -> str | None:
        if value is not None and ":" not in value:
            raise ValueError("must be key:secret (HTTP Basic)")
        return value
