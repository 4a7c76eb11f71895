"""NotificationsFunction settings (read on the first invocation through `load_settings`)."""

from __future__ import annotations

from pydantic import Field

from smartcourse.auth import JwtSettings
from smartcourse.settings import CommonSettings, KafkaSettings


class NotificationsSettings(CommonSettings, KafkaSettings, JwtSettings):
    consumer_name: str = Field(default="notifications", pattern=r"^[a-z0-9_.-]{1,60}$")
    # Attempts before the consumer parks a record on the dead-letter topic with its reason: every
    # retry the mapping gives (MaximumRetryAttempts 5 in template.yaml) + the first delivery.
    max_attempts: int = Field(default=6, ge=1, le=11)
    # How long one invocation (Timeout 60 s) retries a record while the database is out.
    transient_wait_s: float = Field(default=40.0, ge=0, le=55)
    # Email: the verified SES identity mail is sent from, and the API's public base URL (the
    # unsubscribe links point at its /unsubscribe/{token}; the JWT secret signs them).
    notifications_sender: str = Field(pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$", max_length=254)
    public_base_url: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$", max_length=200)
    # The SES configuration set every email is sent with: its event destination publishes bounces
    # and complaints to the feedback topic (template.yaml EmailConfigurationSet). Unset: none.
    email_configuration_set: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # Delivery (the schedule): emails per run, SES attempts per email, the wait between them
    # (times the attempt number), and how long a claimed email may stay unsettled.
    email_batch: int = Field(default=50, ge=1, le=500)
    email_max_attempts: int = Field(default=5, ge=1, le=20)
    email_retry_after_s: float = Field(default=60.0, ge=0)
    email_stale_after_s: float = Field(default=900.0, ge=60)
    # Text messages (SNS Publish to phone numbers): the alphanumeric sender shown where the
    # destination country supports one (unset: SNS's number). Texts reuse the email batch, attempts,
    # retry wait and staleness above.
    sms_sender_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{0,10}[A-Za-z][A-Za-z0-9]{0,10}$",
                                      max_length=11)
