"""Errors -> HTTP, in one place for every HTTP entrypoint (the Chalice API, the assistant)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from smartcourse.errors import AppError, FieldProblem, ValidationFailed


def validation_error(exc: ValidationError) -> ValidationFailed:
    details = []
    for err in exc.errors()[:50]:
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        details.append(FieldProblem(loc, err["msg"]))
    return ValidationFailed("the request is not valid", details=details)


def error_response(exc: Exception) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) for any exception; unknown ones become an opaque 500."""
    if isinstance(exc, ValidationError):
        exc = validation_error(exc)
    if isinstance(exc, AppError):
        return exc.status, exc.to_body()
    return 500, {"error": {"code": "internal_error", "message": "an internal error occurred"}}
