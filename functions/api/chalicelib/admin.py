"""Administration of accounts: list and search users, change a role, disable or enable an account,
and read the audit log (append-only). Administrators only (403 otherwise)."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import deps
from chalicelib.api import body, client, endpoint, principal, query
from chalicelib.web import json_response
from smartcourse.accounts import schemas as a
from smartcourse.accounts import service
from smartcourse.http import path_id

bp = Blueprint(__name__)
TAG = "admin"


@endpoint(bp, "/admin/users", "GET", summary="Users, newest first; search by part of the email or name, or by role",
          tag=TAG, query=a.AdminUserQuery, response=a.AdminUserPage)
def users() -> Response:
    p = principal(bp)
    q = query(bp, a.AdminUserQuery)
    with deps.database().transaction() as conn:
        page = service.list_users(conn, p, q)
    return json_response(page.model_dump(mode="json"))


@endpoint(bp, "/admin/users/{user_id}", "PATCH", summary="Change a user's role, or disable / enable the account "
          "(either ends the user's sessions at once; audited)", tag=TAG, request=a.AdminUserUpdate,
          response=a.AdminUser, errors=("422",))
def update_user(user_id: str) -> Response:
    p = principal(bp)
    uid = path_id(user_id, "user")
    req = body(bp, a.AdminUserUpdate)
    with deps.database().transaction() as conn:
        user = service.update_user(conn, p, uid, req, client(bp))
    return json_response(user.model_dump(mode="json"))


@endpoint(bp, "/admin/audit", "GET", summary="The audit log, newest first: security events and administrators' "
          "actions (nobody can edit it)", tag=TAG, query=a.AuditQuery, response=a.AuditPage)
def audit() -> Response:
    p = principal(bp)
    q = query(bp, a.AuditQuery)
    with deps.database().transaction() as conn:
        page = service.audit_log(conn, p, q)
    return json_response(page.model_dump(mode="json"))
