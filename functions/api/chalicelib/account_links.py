"""Emailed account links: ask for a password reset (same answer for every address), the reset page
and its form, email verification (resend, the confirm page and its button). The pages are plain
HTML served by the API, like the unsubscribe page: the link works from any mail client without
the web app, and nothing changes on a GET (mail scanners open links). Logic in
`smartcourse.accounts.service`; NotificationsFunction sends the emails."""

from __future__ import annotations

import time
import urllib.parse
from typing import TypeVar

from chalice import Blueprint, Response
from pydantic import BaseModel, ValidationError

from chalicelib import deps
from chalicelib.api import body, client, endpoint, principal
from chalicelib.pages import page
from chalicelib.web import json_response
from smartcourse.accounts import domain, service
from smartcourse.accounts import schemas as a
from smartcourse.http import validation_error

bp = Blueprint(__name__)
TAG = "accounts"
RESET = domain.LINK_PATHS["password_reset"] + "/{token}"
VERIFY = domain.LINK_PATHS["email_verification"] + "/{token}"
TOKEN_SCHEMA = (("token", {"type": "string", "pattern": domain.LINK_TOKEN_PATTERN, "minLength": 76, "maxLength": 76}),)
FORM = "application/x-www-form-urlencoded"
F = TypeVar("F", bound=BaseModel)

_RESET_FORM = """<form method="post">
<p><label for="new_password">New password (10 to 128 characters)</label><br>
<input id="new_password" name="new_password" type="password" autocomplete="new-password" minlength="10"
 maxlength="128" required></p>
<button type="submit">Set the new password</button>
</form>
"""
_VERIFY_FORM = """<form method="post">
<input type="hidden" name="confirm" value="yes">
<button type="submit">Confirm my email address</button>
</form>
"""


def _key() -> bytes:
    return deps.config().jwt_secret.encode()


def _form(model: type[F]) -> F:
    raw = bp.current_request.raw_body or b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    fields = {k: v[-1] for k, v in urllib.parse.parse_qs(text, keep_blank_values=True).items()}
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise validation_error(exc) from None


def _broken(exc: domain.InvalidLink) -> Response:
    return page("This link does not work", str(exc), 404)


def _link_page(purpose: domain.LinkPurpose, token: str, title: str, text: str, form: str) -> Response:
    """The page an emailed link opens: its form while the link can be used (a GET changes nothing),
    else why it does not work."""
    try:
        with deps.database().transaction() as conn:
            service.check_link(conn, _key(), purpose, token)
    except domain.InvalidLink as exc:
        return _broken(exc)
    return page(title, text, form=form)


#: The reset request is answered no sooner than this after it arrived, for every address: a known
#: address costs one more row (its event) than an unknown one, about 0.4 ms, which a caller could
#: otherwise measure to learn which addresses have accounts.
RESET_ANSWER_FLOOR_S = 0.05


@endpoint(bp, "/auth/password-reset", "POST", summary="Email a password reset link (30 minutes, single use); the "
          "answer is the same, in the same time, whether or not an account has the address", tag=TAG, auth=False,
          request=a.PasswordResetRequest, response=a.Accepted, status=202)
def request_reset() -> Response:
    started = time.perf_counter()
    req = body(bp, a.PasswordResetRequest)
    with deps.database().transaction() as conn:
        service.request_password_reset(conn, req.email)
    out = a.Accepted(message="If an account has this address, a link to reset its password is on its way.")
    time.sleep(max(0.0, RESET_ANSWER_FLOOR_S - (time.perf_counter() - started)))
    return json_response(out.model_dump(mode="json"), 202)


@endpoint(bp, RESET, "GET", summary="The password reset page of an emailed link (changes nothing)", tag=TAG,
          auth=False, html=True, path_schemas=TOKEN_SCHEMA)
def reset_page(token: str) -> Response:
    return _link_page("password_reset", token, "Choose a new password",
                      "Every device signed in to your account will be signed out.", _RESET_FORM)


@endpoint(bp, RESET, "POST", summary="Set the new password (form-encoded); the link is spent and every session "
          "ends", tag=TAG, auth=False, html=True, path_schemas=TOKEN_SCHEMA, request=a.NewPasswordForm,
          request_media=FORM)
def reset(token: str) -> Response:
    form = _form(a.NewPasswordForm)
    try:
        service.reset_password(deps.database(), _key(), token, form.new_password, client(bp))
    except domain.InvalidLink as exc:
        return _broken(exc)
    return page("Your password is changed", "Every device was signed out. Sign in with the new password.")


@endpoint(bp, "/me/email-verification", "POST", summary="Email a new link to confirm the caller's address (7 days)",
          tag=TAG, request=a.Empty, response=a.Accepted, status=202)
def resend_verification() -> Response:
    p = principal(bp)
    body(bp, a.Empty)
    with deps.database().transaction() as conn:
        service.request_email_verification(conn, p)
    out = a.Accepted(message="A link to confirm your email address is on its way.")
    return json_response(out.model_dump(mode="json"), 202)


@endpoint(bp, VERIFY, "GET", summary="The email confirmation page of an emailed link (changes nothing)", tag=TAG,
          auth=False, html=True, path_schemas=TOKEN_SCHEMA)
def verify_page(token: str) -> Response:
    return _link_page("email_verification", token, "Confirm your email address",
                      "Press the button to confirm this address for your SmartCourse account.", _VERIFY_FORM)


@endpoint(bp, VERIFY, "POST", summary="Confirm the address (form-encoded confirm=yes); the link is spent", tag=TAG,
          auth=False, html=True, path_schemas=TOKEN_SCHEMA, request=a.ConfirmForm, request_media=FORM)
def verify(token: str) -> Response:
    _form(a.ConfirmForm)
    try:
        with deps.database().transaction() as conn:
            service.verify_email(conn, _key(), token)
    except domain.InvalidLink as exc:
        return _broken(exc)
    return page("Your email address is confirmed", "Thank you. You can close this page.")
