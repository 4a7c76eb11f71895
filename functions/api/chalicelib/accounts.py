"""POST /auth/register, POST /auth/login, GET /me."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api import body, endpoint, execute, principal
from smartcourse.lms import schemas as s

bp = Blueprint(__name__)
TAG = "accounts"


@endpoint(bp, "/auth/register", "POST", summary="Register a learner or instructor", tag=TAG,
          request=s.RegisterRequest, response=s.UserEnvelope, status=201, auth=False, idempotent=True)
def register() -> Response:
    req = body(bp, s.RegisterRequest)
    return execute(bp, lambda svc: svc.register(req), status=201, idempotent=True)


@endpoint(bp, "/auth/login", "POST", summary="Exchange email and password for an access token", tag=TAG,
          request=s.LoginRequest, response=s.Token, auth=False, errors=("401",))
def login() -> Response:
    req = body(bp, s.LoginRequest)
    return execute(bp, lambda svc: svc.login(req))


@endpoint(bp, "/me", "GET", summary="The caller's account", tag=TAG, response=s.UserEnvelope)
def me() -> Response:
    p = principal(bp)
    return execute(bp, lambda svc: svc.me(p))
