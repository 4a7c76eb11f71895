"""Request and response models of the certificate routes (validation and the OpenAPI document)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smartcourse.certificates.domain import MAX_REASON, MIN_REASON
from smartcourse.strings import check_text, text_of_at_least


class _Model(BaseModel):
    """Every model of this module: its validator is built when first used, not at import (the
    functions that import this module serve few of its models per cold start; issue 19)."""

    model_config = ConfigDict(defer_build=True)


class RevokeRequest(_Model):
    model_config = ConfigDict(extra="forbid")

    # The pattern states the minimum (MIN_REASON once stripped); white space is then collapsed,
    # which only shortens the value, so a reason of at most MAX_REASON stays within it.
    reason: str = Field(max_length=MAX_REASON, json_schema_extra={"pattern": text_of_at_least(MIN_REASON)},
                        description="Why the certificate is revoked; shown by the public check")

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        value = " ".join(check_text(value).split())
        if len(value) < MIN_REASON:
            raise ValueError(f"must be {MIN_REASON} to {MAX_REASON} characters")
        return value


class CertificateCheck(_Model):
    """GET /certificates/{code}: what anyone holding the code is told."""

    status: Literal["valid", "revoked", "withdrawn", "unknown"]
    code: str
    learner_name: str | None = None
    course_title: str | None = None
    instructor_name: str | None = None
    completed_on: str | None = None
    course_version: int | None = None
    issued_at: str | None = None
    verify_url: str | None = None
    revoked_at: str | None = None
    revoked_reason: str | None = None
    withdrawn_at: str | None = None
    message: str | None = Field(default=None, description="withdrawn: \"withdrawn by the holder\"")


class MyCertificate(CertificateCheck):
    id: str
    course_id: str
    enrollment_id: str
    download_path: str


class MyCertificates(_Model):
    items: list[MyCertificate]


class DownloadLink(_Model):
    code: str
    url: str
    expires_in: int
