"""The accounts API's request and response models (auth sessions, password, administration)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from smartcourse.accounts.domain import CODE_PATTERN, PHONE_PATTERN
from smartcourse.lms.schemas import CURSOR_PATTERN, Email, NonBlankLine, Request, Response, Role
from smartcourse.partial import check_partial, partial_schema
from smartcourse.strings import NON_BLANK_TEXT_PATTERN, check_text, text_of_at_least

#: A refresh token: 32 random bytes, base64url without padding.
REFRESH_TOKEN_PATTERN = r"^[A-Za-z0-9_-]{43}$"
NewPassword = Annotated[str, Field(min_length=10, max_length=128, json_schema_extra={"pattern": text_of_at_least(10)}),
                        AfterValidator(check_text)]
#: The refresh token's cookie (HttpOnly: page scripts never see it), sent to /auth only.
REFRESH_COOKIE = "sc_refresh"


class TokenPair(Response):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds the access token is valid (at most 900)")
    refresh_token: str = Field(description="single use: POST /auth/refresh returns the next one; also set as the "
                                           f"HttpOnly cookie {REFRESH_COOKIE} (Path=/auth)")
    session_expires_at: datetime = Field(description="when the session ends whatever the refreshes")


class RefreshRequest(Request):
    refresh_token: str | None = Field(default=None, min_length=43, max_length=43, pattern=REFRESH_TOKEN_PATTERN,
                                      description=f"omit to use the {REFRESH_COOKIE} cookie")


class Empty(Request):
    """No fields (an empty JSON object, or no body)."""


class ChangePasswordRequest(Request):
    current_password: str = Field(min_length=1, max_length=128, json_schema_extra={"pattern": NON_BLANK_TEXT_PATTERN})
    new_password: NewPassword


class AdminUserQuery(Request):
    q: NonBlankLine | None = Field(default=None, min_length=1, max_length=200,
                                   description="part of the email or the name (case-insensitive)")
    role: Role | None = None
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, min_length=32, max_length=32, pattern=CURSOR_PATTERN,
                               description="next_cursor of the previous page")


class AdminUser(Response):
    id: uuid.UUID
    email: str
    name: str
    role: Role
    created_at: datetime
    disabled: bool
    disabled_at: datetime | None


class AdminUserPage(Response):
    items: list[AdminUser]
    next_cursor: str | None


class AdminUserUpdate(Request):
    NOT_NULLABLE: ClassVar[tuple[str, ...]] = ("role", "disabled")
    model_config = ConfigDict(json_schema_extra=partial_schema(*NOT_NULLABLE))

    role: Role | None = None
    disabled: bool | None = None

    @model_validator(mode="after")
    def _partial(self) -> AdminUserUpdate:
        check_partial(self, self.NOT_NULLABLE)
        return self


AuditAction = Literal["sign_in_limited", "refresh_reuse", "logout_all", "password_changed", "password_reset",
                      "role_changed", "account_disabled", "account_enabled", "account_deleted"]


class AuditQuery(Request):
    action: AuditAction | None = None
    user_id: uuid.UUID | None = Field(default=None, description="entries about this account")
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, min_length=32, max_length=32, pattern=CURSOR_PATTERN,
                               description="next_cursor of the previous page")


class AuditEntry(Response):
    id: uuid.UUID
    at: datetime
    action: AuditAction
    actor_id: uuid.UUID | None
    subject_id: uuid.UUID | None
    client_ip: str | None
    details: dict[str, Any]


class AuditPage(Response):
    items: list[AuditEntry]
    next_cursor: str | None


class PasswordResetRequest(Request):
    email: Email


class Accepted(Response):
    status: Literal["accepted"] = "accepted"
    message: str


class NewPasswordForm(Request):
    """The reset page's form (application/x-www-form-urlencoded)."""

    new_password: NewPassword


class ConfirmForm(Request):
    """The email confirmation page's button (form-encoded ``confirm=yes``)."""

    confirm: Literal["yes"]


class ExportDocument(Response):
    """Everything SmartCourse holds about the caller (GDPR art. 15 / 20): one JSON document."""

    format: Literal["smartcourse.export.v1"] = "smartcourse.export.v1"
    exported_at: datetime
    account: dict[str, Any]
    sessions: list[dict[str, Any]]
    enrollments: list[dict[str, Any]] = Field(description="with each lesson's progress")
    certificates: list[dict[str, Any]]
    courses_taught: list[dict[str, Any]]
    emailed_links: list[dict[str, Any]] = Field(description="password reset and confirmation links (not their "
                                                            "tokens)")
    phone_codes: list[dict[str, Any]] = Field(default_factory=list, description="phone verification codes texted "
                                              "(number and dates, never the codes)")
    security_log: list[dict[str, Any]] = Field(description="audit entries about the account")
    assistant_conversations: list[dict[str, Any]] = Field(description="questions, answers, citations, ratings")
    notifications: dict[str, Any] = Field(description="inbox, preferences, settings, emails, texts, digests")
    analytics: dict[str, Any] = Field(description="learning analytics: per course progress and activity, lessons "
                                                    "started and completed, minutes on task (under the "
                                                    "pseudonymous learner id)")


class DeleteAccountRequest(Request):
    password: str = Field(min_length=1, max_length=128, json_schema_extra={"pattern": NON_BLANK_TEXT_PATTERN},
                          description="the account's password, entered again")
    certificates: Literal["keep", "withdraw"] = Field(
        description="keep: your certificates stay verifiable with your name on them; withdraw: their "
                    "verification answers \"withdrawn by the holder\" and their PDFs are deleted")


# --- phone numbers -----------------------------------------------------------------------------------

class PhoneRequest(Request):
    phone: str = Field(min_length=9, max_length=16, pattern=PHONE_PATTERN, examples=["+447700900123"],
                       description="an E.164 number: +, the country code and the number, digits only")


class PhoneCodeRequest(Request):
    code: str = Field(min_length=6, max_length=6, pattern=CODE_PATTERN, description="the 6 digits texted to the "
                      "number")


class PhoneState(Response):
    phone: str | None = Field(description="the account's number (E.164), null when it has none")
    verified: bool = Field(description="true once the texted code was entered: only then is anything else texted")
    verified_at: datetime | None
    code_expires_at: datetime | None = Field(description="when the code waiting to be entered expires (null: none "
                                                         "is waiting)")
