"""Accounts over HTTP: register, sign in (access + refresh tokens, the refresh token also as an
HttpOnly cookie), refresh, sign out (this session, or everywhere), change password, GET /me.
Logic in `smartcourse.accounts.service` (sessions) and `LmsService` (register, me)."""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

from chalice import Blueprint, Response

from chalicelib import deps
from chalicelib.api import body, client, endpoint, execute, principal
from chalicelib.web import json_response
from smartcourse.accounts import schemas as a
from smartcourse.accounts import service
from smartcourse.lms import schemas as s
from smartcourse.observability import logger

bp = Blueprint(__name__)
TAG = "accounts"
_COOKIE_ATTRS = "Path=/auth; HttpOnly; Secure; SameSite=Strict"


def _with_cookie(pair: a.TokenPair) -> Response:
    """The pair as JSON, and its refresh token as the HttpOnly cookie (for the web client)."""
    max_age = max(0, int(deps.accounts_config().session_ttl.total_seconds()))
    cookie = f"{a.REFRESH_COOKIE}={pair.refresh_token}; Max-Age={max_age}; {_COOKIE_ATTRS}"
    return json_response(pair.model_dump(mode="json"), headers={"Set-Cookie": cookie, "Cache-Control": "no-store"})


def _cleared() -> Response:
    cookie = f"{a.REFRESH_COOKIE}=; Max-Age=0; {_COOKIE_ATTRS}"
    return Response(body="", status_code=204, headers={"Set-Cookie": cookie})


def _cookie_token() -> str | None:
    raw = bp.current_request.headers.get("cookie")
    if not raw:
        return None
    try:
        jar = SimpleCookie(raw)
    except CookieError:
        return None
    morsel = jar.get(a.REFRESH_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


@endpoint(bp, "/auth/register", "POST", summary="Register a learner or instructor", tag=TAG,
          request=s.RegisterRequest, response=s.UserEnvelope, status=201, auth=False, idempotent=True)
def register() -> Response:
    req = body(bp, s.RegisterRequest)
    return execute(bp, lambda svc: svc.register(req), status=201, idempotent=True)


@endpoint(bp, "/auth/login", "POST", summary="Sign in: an access token (15 min) and a refresh token (also set as "
          "the HttpOnly cookie sc_refresh); failed sign-ins are limited per email and per address (429)", tag=TAG,
          request=s.LoginRequest, response=a.TokenPair, auth=False, errors=("401", "429"))
def login() -> Response:
    req = body(bp, s.LoginRequest)
    return _with_cookie(service.sign_in(deps.database(), deps.accounts_config(), req.email, req.password, client(bp)))


@endpoint(bp, "/auth/refresh", "POST", summary="Exchange a refresh token (body, or the sc_refresh cookie) for a new "
          "pair; the old one is spent, and a spent one presented again ends its session", tag=TAG,
          request=a.RefreshRequest, response=a.TokenPair, auth=False, errors=("401",))
def refresh() -> Response:
    req = body(bp, a.RefreshRequest)
    token = req.refresh_token or _cookie_token()
    return _with_cookie(service.refresh(deps.database(), deps.accounts_config(), token, client(bp)))


@endpoint(bp, "/auth/logout", "POST", summary="Sign out: end this session (its access and refresh tokens)",
          tag=TAG, request=a.Empty, status=204)
def logout() -> Response:
    p = principal(bp)
    body(bp, a.Empty)
    with deps.database().transaction() as conn:
        service.sign_out(conn, p)
    return _cleared()


@endpoint(bp, "/auth/logout-all", "POST", summary="Sign out everywhere: end every session of the account",
          tag=TAG, request=a.Empty, status=204)
def logout_all() -> Response:
    p = principal(bp)
    body(bp, a.Empty)
    with deps.database().transaction() as conn:
        service.sign_out_everywhere(conn, p, client(bp))
    return _cleared()


@endpoint(bp, "/me/password", "POST", summary="Change the password: every session ends, this answer is a new one's "
          "tokens", tag=TAG, request=a.ChangePasswordRequest, response=a.TokenPair, errors=("422", "429"))
def change_password() -> Response:
    p = principal(bp)
    req = body(bp, a.ChangePasswordRequest)
    return _with_cookie(service.change_password(deps.database(), deps.accounts_config(), p, req, client(bp)))


@endpoint(bp, "/me/export", "GET", summary="Everything SmartCourse holds about the caller, as one JSON document "
          "(account, sessions, enrolments and progress, certificates, assistant conversations, notifications, "
          "security log)", tag=TAG, response=a.ExportDocument)
def export() -> Response:
    p = principal(bp)
    with deps.database().transaction() as conn:
        document = service.export(conn, p)
    return json_response(document.model_dump(mode="json"), headers={
        "Content-Disposition": 'attachment; filename="smartcourse-export.json"', "Cache-Control": "no-store"})


@endpoint(bp, "/me", "DELETE", summary="Delete the caller's account (password entered again): personal data is "
          "erased in every service; certificates kept verifiable or withdrawn, as chosen", tag=TAG,
          request=a.DeleteAccountRequest, status=204, errors=("422", "429"))
def delete_me() -> Response:
    p = principal(bp)
    req = body(bp, a.DeleteAccountRequest)
    keys = service.delete_account(deps.database(), deps.accounts_config(), p, req, client(bp))
    bucket = deps.settings().certificates_bucket
    for key in keys:  # withdrawn certificates' PDFs; the rows already say "withdrawn"
        try:
            deps.s3().delete_object(Bucket=bucket, Key=key)
        except Exception:  # the object stays private (downloads of a withdrawn certificate are refused)
            logger.exception("a withdrawn certificate's PDF was not deleted", extra={"s3_key": key})
    return _cleared()


@endpoint(bp, "/me/phone", "PUT", summary="Set the caller's phone number (E.164): stored unverified, and a 6-digit "
          "code is texted to it (10 minutes, 5 tries; at most 3 codes an hour per account and per number: 429). "
          "The number already verified is kept as it is", tag=TAG, request=a.PhoneRequest, response=a.PhoneState,
          errors=("429",))
def set_phone() -> Response:
    p = principal(bp)
    req = body(bp, a.PhoneRequest)
    with deps.database().transaction() as conn:
        state = service.set_phone(conn, p, req.phone)
    return json_response(state.model_dump(mode="json"))


@endpoint(bp, "/me/phone/verify", "POST", summary="Verify the caller's phone number with the texted code (422 on "
          "code: wrong, expired, tried too often, or none waiting)", tag=TAG, request=a.PhoneCodeRequest,
          response=a.PhoneState, errors=("422",))
def verify_phone() -> Response:
    p = principal(bp)
    req = body(bp, a.PhoneCodeRequest)
    state = service.verify_phone(deps.database(), deps.config().jwt_secret.encode(), p, req.code)
    return json_response(state.model_dump(mode="json"))


@endpoint(bp, "/me/phone", "DELETE", summary="Remove the caller's phone number: nothing more is texted to it",
          tag=TAG, status=204)
def remove_phone() -> Response:
    p = principal(bp)
    with deps.database().transaction() as conn:
        service.remove_phone(conn, p)
    return Response(body="", status_code=204)


@endpoint(bp, "/me", "GET", summary="The caller's account", tag=TAG, response=s.UserEnvelope)
def me() -> Response:
    p = principal(bp)
    return execute(bp, lambda svc: svc.me(p))
