"""CertificatesFunction settings (read on the first invocation through `load_settings`)."""

from __future__ import annotations

from pydantic import Field

from smartcourse.settings import CommonSettings, KafkaSettings


class CertificatesSettings(CommonSettings, KafkaSettings):
    certificates_bucket: str = Field(min_length=3, max_length=63)
    # Printed (and QR-encoded) on every certificate: PUBLIC_BASE_URL/certificates/{code}.
    public_base_url: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$", max_length=200)
    consumer_name: str = Field(default="certificates", pattern=r"^[a-z0-9_.-]{1,60}$")
    # Attempts before the consumer parks a record on the dead-letter topic with its reason: every
    # retry the mapping gives (MaximumRetryAttempts 5 in template.yaml) + the first delivery.
    max_attempts: int = Field(default=6, ge=1, le=11)
    # How long one invocation (Timeout 60 s) retries a record while S3 or the database is out,
    # before reporting it failed: 6 attempts x 40 s ride out a 4-minute outage, no dead letter.
    transient_wait_s: float = Field(default=40.0, ge=0, le=55)
    # Reconciliation (the scheduled sweep, `smartcourse.certificates.reconcile`): completions older
    # than this without a certificate are issued by the sweep (the event is deemed lost).
    sweep_grace_s: float = Field(default=600.0, ge=0)
    sweep_batch: int = Field(default=50, ge=1, le=1000)
    # Failed sweep attempts (other than outages) before a completion is left to an operator.
    sweep_max_attempts: int = Field(default=5, ge=1, le=100)
