"""Typed errors. Each carries its HTTP status and a stable machine-readable code.

They are mapped to HTTP responses in exactly one place per entrypoint
(`smartcourse.http.error_response`); nothing classifies errors by message text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    problem: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "problem": self.problem}


@dataclass
class AppError(Exception):
    """Base class of every error the product reports to a caller."""

    message: str
    details: list[FieldProblem] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message)

    def __str__(self) -> str:
        return self.message

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = [d.as_dict() for d in self.details]
        body.update(self.extra)
        return {"error": body}


class ValidationFailed(AppError):
    status = 400
    code = "validation_failed"


class BadRequest(AppError):
    status = 400
    code = "bad_request"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"


class RuleViolated(AppError):
    """The request is well formed (it matches the OpenAPI document) but breaks a rule JSON Schema
    cannot state, such as an order between two fields; details name the fields."""

    status = 422
    code = "rule_violated"


class Conflict(AppError):
    status = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"


class DependencyUnavailable(AppError):
    """A dependency (database, broker, S3, LLM) failed; the caller may retry."""

    status = 503
    code = "dependency_unavailable"


class ConfigurationError(Exception):
    """A setting is missing or malformed. Raised at start, named in one line."""
