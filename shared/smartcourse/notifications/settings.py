"""NotificationsFunction settings (read on the first invocation through `load_settings`)."""

from __future__ import annotations

from pydantic import Field

from smartcourse.settings import CommonSettings, KafkaSettings


class NotificationsSettings(CommonSettings, KafkaSettings):
    consumer_name: str = Field(default="notifications", pattern=r"^[a-z0-9_.-]{1,60}$")
    # Attempts before the consumer parks a record on the dead-letter topic with its reason: every
    # retry the mapping gives (MaximumRetryAttempts 5 in template.yaml) + the first delivery.
    max_attempts: int = Field(default=6, ge=1, le=11)
    # How long one invocation (Timeout 60 s) retries a record while the database is out.
    transient_wait_s: float = Field(default=40.0, ge=0, le=55)
