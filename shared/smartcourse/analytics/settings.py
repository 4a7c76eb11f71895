"""AnalyticsFunction settings (read on the first invocation through `load_settings`)."""

from __future__ import annotations

from pydantic import Field

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
