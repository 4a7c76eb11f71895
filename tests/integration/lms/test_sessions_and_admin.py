"""Sessions that can be ended, sign-in limits, administration and the audit log (issue 17), through
the API in-process on the real Postgres, and the assistant's handler for "refused on every function"."""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from smartcourse.accounts import domain
from smartcourse.accounts import service as accounts
from smartcourse.db import Database
from smartcourse.errors import RateLimited, Unauthorized
from tests.conftest import load_function_module
from tests.integration.lms.conftest import PASSWORD, Api, admin_token

pytestmark = pytest.mark.integration


class Context:
    function_name = "AssistantFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:AssistantFunction"
    aws_request_id = "sessions-test"


def _account(api: Api, role: str = "student") -> tuple[str, str]:
    email = f"acct-{secrets.token_hex(5)}@example.com"
    r = api.call("POST", "/auth/register", json_body={"email": email, "password": PASSWORD, "name": "Ada",
                                                      "role": role})
    assert r.status == 201, r
    return email, r.body["user"]["id"]


def _login(api: Api, email: str, password: str = PASSWORD) -> Any:
    return api.call("POST", "/auth/login", json_body={"email": email, "password": password})


def _assistant_status(token: str) -> int:
    """AssistantFunction's answer to a signed-in request (a course nobody has: 404 when the session
    is live, 401 when it has ended)."""
    app = load_function_module("assistant")
    course = str(uuid.uuid4())
    resource = "/courses/{course_id}/assistant/status"
    out = app.handler({"httpMethod": "GET", "resource": resource, "path": f"/courses/{course}/assistant/status",
                       "pathParameters": {"course_id": course}, "headers": {"Authorization": f"Bearer {token}"},
                       "body": None, "requestContext": {"requestId": "r"}}, Context())
    return int(out["statusCode"])


def test_sign_in_gives_a_short_access_token_and_a_refresh_token_also_as_an_httponly_cookie(api: Api) -> None:
    email, _ = _account(api)
    r = _login(api, email)
    assert r.status == 200, r
    assert set(r.body) == {"access_token", "token_type", "expires_in", "refresh_token", "session_expires_at"}
    assert r.body["expires_in"] <= 900 and len(r.body["refresh_token"]) == 43
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"sc_refresh={r.body['refresh_token']};")
    assert {"HttpOnly", "Secure", "SameSite=Strict", "Path=/auth"} <= {p.strip() for p in cookie.split(";")}
    assert api.call("GET", "/me", r.body["access_token"]).status == 200


def test_refresh_rotates_and_a_spent_refresh_token_presented_again_ends_the_whole_session(
        api: Api, db: psycopg.Connection[Any]) -> None:
    email, user_id = _account(api)
    first = _login(api, email).body
    # Given a refresh (body), then another with the cookie alone
    second = api.call("POST", "/auth/refresh", json_body={"refresh_token": first["refresh_token"]})
    assert second.status == 200 and second.body["refresh_token"] != first["refresh_token"]
    cookie = {"cookie": f"sc_refresh={second.body['refresh_token']}"}
    third = api.call("POST", "/auth/refresh", json_body={}, headers=cookie)
    assert third.status == 200, third
    assert third.body["session_expires_at"] == first["session_expires_at"]  # a refresh never extends it
    assert api.call("GET", "/me", third.body["access_token"]).status == 200
    # When the first (spent) refresh token comes back
    reuse = api.call("POST", "/auth/refresh", json_body={"refresh_token": first["refresh_token"]})
    # Then 401, and every token of that session is dead: the newest access and refresh tokens too
    assert reuse.status == 401, reuse
    assert api.call("GET", "/me", third.body["access_token"]).status == 401
    assert _assistant_status(third.body["access_token"]) == 401
    assert api.call("POST", "/auth/refresh", json_body={"refresh_token": third.body["refresh_token"]}).status == 401
    row = db.execute("SELECT action, subject_id FROM lms.audit_log WHERE subject_id = %s", (user_id,)).fetchall()
    assert [r["action"] for r in row] == ["refresh_reuse"]
    # A new sign-in works
    assert _login(api, email).status == 200


def test_refresh_without_a_token_or_with_an_unknown_one_is_401(api: Api) -> None:
    assert api.call("POST", "/auth/refresh", json_body={}).status == 401
    assert api.call("POST", "/auth/refresh", json_body={"refresh_token": "A" * 43}).status == 401
    assert api.call("POST", "/auth/refresh", json_body={"refresh_token": "short"}).status == 400


def test_sign_out_ends_this_session_only_and_sign_out_everywhere_ends_all(api: Api) -> None:
    email, _ = _account(api)
    laptop, phone, tablet = (_login(api, email).body for _ in range(3))
    out = api.call("POST", "/auth/logout", laptop["access_token"], {})
    assert out.status == 204 and "Max-Age=0" in out.headers["set-cookie"]
    # The signed-out session's access token is refused on its next use (not at expiry), on the API
    # and the assistant; its refresh token too. The other sessions carry on.
    assert api.call("GET", "/me", laptop["access_token"]).status == 401
    assert _assistant_status(laptop["access_token"]) == 401
    assert api.call("POST", "/auth/refresh", json_body={"refresh_token": laptop["refresh_token"]}).status == 401
    assert api.call("GET", "/me", phone["access_token"]).status == 200
    assert _assistant_status(phone["access_token"]) == 404
    # Sign out everywhere, from the phone: the tablet is signed out too
    assert api.call("POST", "/auth/logout-all", phone["access_token"], {}).status == 204
    for session in (phone, tablet):
        assert api.call("GET", "/me", session["access_token"]).status == 401
        assert _assistant_status(session["access_token"]) == 401
        assert api.call("POST", "/auth/refresh", json_body={"refresh_token": session["refresh_token"]}).status == 401


def test_a_password_change_ends_every_session_and_answers_a_new_one(api: Api, db: psycopg.Connection[Any]) -> None:
    email, user_id = _account(api)
    before, other = _login(api, email).body, _login(api, email).body
    wrong = api.call("POST", "/me/password", before["access_token"],
                     {"current_password": "not-the-password", "new_password": "a-brand-new-password"})
    assert wrong.status == 422 and wrong.body["error"]["details"][0]["field"] == "current_password"
    assert api.call("GET", "/me", before["access_token"]).status == 200  # nothing ended by a wrong one
    new = api.call("POST", "/me/password", before["access_token"],
                   {"current_password": PASSWORD, "new_password": "a-brand-new-password"})
    assert new.status == 200, new
    for old in (before, other):  # issued before the change: refused at once, API and assistant
        assert api.call("GET", "/me", old["access_token"]).status == 401
        assert _assistant_status(old["access_token"]) == 401
    assert api.call("GET", "/me", new.body["access_token"]).status == 200
    assert _login(api, email).status == 401
    assert _login(api, email, "a-brand-new-password").status == 200
    actions = [r["action"] for r in db.execute("SELECT action FROM lms.audit_log WHERE subject_id = %s",
                                               (user_id,)).fetchall()]
    assert actions == ["password_changed"]


def test_an_admin_disables_and_enables_an_account_and_changes_a_role_each_ending_sessions_and_audited(
        api: Api, api_module: Any, database_url: str, db: psycopg.Connection[Any]) -> None:
    admin, admin_id = admin_token(database_url, api_module)
    email, user_id = _account(api)
    session = _login(api, email).body
    # Only admins
    assert api.call("GET", "/admin/users", session["access_token"]).status == 403
    assert api.call("PATCH", f"/admin/users/{user_id}", session["access_token"], {"disabled": True}).status == 403
    # Search by part of the email
    found = api.call("GET", f"/admin/users?q={email.split('@')[0][5:]}", admin)
    assert found.status == 200 and [u["id"] for u in found.body["items"]] == [user_id]
    # Disabling ends the user's sessions at once; signing in answers 401 like a wrong password
    off = api.call("PATCH", f"/admin/users/{user_id}", admin, {"disabled": True})
    assert off.status == 200 and off.body["disabled"] is True
    assert api.call("GET", "/me", session["access_token"]).status == 401
    assert _assistant_status(session["access_token"]) == 401
    assert api.call("POST", "/auth/refresh", json_body={"refresh_token": session["refresh_token"]}).status == 401
    assert _login(api, email).status == 401
    # Enabled again: signing in works; then a role change ends that session, the next carries the role
    assert api.call("PATCH", f"/admin/users/{user_id}", admin, {"disabled": False}).body["disabled"] is False
    again = _login(api, email).body
    role = api.call("PATCH", f"/admin/users/{user_id}", admin, {"role": "instructor"})
    assert role.status == 200 and role.body["role"] == "instructor"
    assert api.call("GET", "/me", again["access_token"]).status == 401
    assert api.call("GET", "/me", _login(api, email).body["access_token"]).body["user"]["role"] == "instructor"
    # An admin cannot disable or demote themselves (another admin does)
    self_off = api.call("PATCH", f"/admin/users/{admin_id}", admin, {"disabled": True, "role": "student"})
    assert self_off.status == 422
    assert {d["field"] for d in self_off.body["error"]["details"]} == {"disabled", "role"}
    assert api.call("PATCH", f"/admin/users/{uuid.uuid4()}", admin, {"disabled": True}).status == 404
    # The audit log: newest first, each action with who did it to whom
    log = api.call("GET", f"/admin/audit?user_id={user_id}", admin)
    assert log.status == 200, log
    assert [(e["action"], e["actor_id"]) for e in log.body["items"]] == [
        ("role_changed", str(admin_id)), ("account_enabled", str(admin_id)), ("account_disabled", str(admin_id))]
    assert log.body["items"][0]["details"] == {"from": "student", "to": "instructor", "sessions_ended": 1}
    page = api.call("GET", f"/admin/audit?user_id={user_id}&limit=2", admin)
    rest = api.call("GET", f"/admin/audit?user_id={user_id}&limit=2&cursor={page.body['next_cursor']}", admin)
    assert [e["id"] for e in page.body["items"] + rest.body["items"]] == [e["id"] for e in log.body["items"]]
    assert api.call("GET", "/admin/audit", session["access_token"]).status == 401  # that session is over
    # Nobody edits it: the table refuses UPDATE, DELETE and TRUNCATE
    for sql in ("UPDATE lms.audit_log SET action = 'x' WHERE subject_id = %s",
                "DELETE FROM lms.audit_log WHERE subject_id = %s"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute(sql, (user_id,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("TRUNCATE lms.audit_log")


def test_failed_sign_ins_make_the_email_wait_with_retry_after_over_http(api: Api) -> None:
    email, _ = _account(api)
    for _ in range(5):  # SignInLimits.free_failures
        assert _login(api, email, "wrong-password").status == 401
    limited = _login(api, email)  # the right password, during the wait: still 429
    assert limited.status == 429 and limited.body["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 30
    # An email nobody has is answered the same way
    ghost = f"ghost-{secrets.token_hex(5)}@example.com"
    assert [_login(api, ghost).status for _ in range(6)] == [401] * 5 + [429]


# --- the limits, by the service on the real database (each with its own client address) ---------

@pytest.fixture
def accounts_db(database_url: str) -> Database:
    return Database(database_url)


def _rewind(db: psycopg.Connection[Any], column: str, value: str, by: timedelta) -> None:
    """Move the recorded failures back in time (the clock moving on)."""
    db.execute(f"UPDATE lms.sign_in_failures SET at = at - %s WHERE {column} = %s", (by, value))


def test_the_email_wait_doubles_is_capped_and_a_success_clears_it(
        api: Api, accounts_db: Database, db: psycopg.Connection[Any]) -> None:
    email, _ = _account(api)
    cfg = accounts.AccountsConfig(jwt_secret="j" * 40)
    here = accounts.Client(ip=f"198.51.100.{secrets.randbelow(250)}")
    for _ in range(cfg.limits.free_failures):
        with pytest.raises(Unauthorized):
            accounts.sign_in(accounts_db, cfg, email, "wrong-password", here)
    with pytest.raises(RateLimited) as first:
        accounts.sign_in(accounts_db, cfg, email, PASSWORD, here)
    assert 25 <= first.value.extra["retry_after_s"] <= 30
    _rewind(db, "email", email, timedelta(seconds=31))  # the wait is over: one more wrong one
    with pytest.raises(Unauthorized):
        accounts.sign_in(accounts_db, cfg, email, "wrong-password", here)
    with pytest.raises(RateLimited) as second:
        accounts.sign_in(accounts_db, cfg, email, PASSWORD, here)
    assert 55 <= second.value.extra["retry_after_s"] <= 60  # doubled
    _rewind(db, "email", email, timedelta(seconds=61))
    pair = accounts.sign_in(accounts_db, cfg, email, PASSWORD, here)
    assert pair.access_token
    left = db.execute("SELECT count(*) AS n FROM lms.sign_in_failures WHERE email = %s", (email,)).fetchone()
    assert left is not None and left["n"] == 0
    audit = db.execute("SELECT details FROM lms.audit_log WHERE action = 'sign_in_limited' AND client_ip = %s",
                       (here.ip,)).fetchall()
    assert [a["details"]["scope"] for a in audit] == ["email"]


def test_the_per_address_limit_stops_credential_stuffing_across_emails_not_other_addresses(
        api: Api, accounts_db: Database) -> None:
    cfg = accounts.AccountsConfig(jwt_secret="j" * 40, limits=domain.SignInLimits(address_failures=8))
    stuffer, someone = accounts.Client(ip=f"203.0.113.{secrets.randbelow(250)}"), accounts.Client(ip="192.0.2.77")
    for i in range(8):
        with pytest.raises(Unauthorized):
            accounts.sign_in(accounts_db, cfg, f"victim{i}-{secrets.token_hex(3)}@example.com", "guess-123", stuffer)
    email, _ = _account(api)
    with pytest.raises(RateLimited) as limited:  # any email from that address, even with its password
        accounts.sign_in(accounts_db, cfg, email, PASSWORD, stuffer)
    assert limited.value.extra["retry_after_s"] > 800  # until the oldest failure leaves the 15-minute window
    assert accounts.sign_in(accounts_db, cfg, email, PASSWORD, someone).access_token


def test_the_openapi_document_names_the_new_operations(api: Api) -> None:
    doc = json.loads(api.client.http.get("/openapi.json").body)
    for path, method in [("/auth/refresh", "post"), ("/auth/logout", "post"), ("/auth/logout-all", "post"),
                         ("/me/password", "post"), ("/admin/users", "get"), ("/admin/users/{user_id}", "patch"),
                         ("/admin/audit", "get")]:
        assert method in doc["paths"][path], (path, method)
    assert {"401", "429"} <= set(doc["paths"]["/auth/login"]["post"]["responses"])


def test_the_export_holds_everything_about_the_caller_and_nothing_about_anyone_else(
        api: Api, db: psycopg.Connection[Any]) -> None:
    # Given a learner with data in every service: sessions, an enrolment with progress, a
    # certificate, an assistant conversation with a rated answer, notifications, preferences and an
    # email (the AI and notifications rows written as those services write them)
    teacher, _ = api.user("instructor")
    course = api.published_course(teacher, lessons=2, title="Export course")
    token, me = api.user("student", name="Ada Export")
    other_token, other = api.user("student", name="Someone Else")
    course_id = course["course"]["id"]
    enrolled = api.call("POST", f"/courses/{course_id}/enrollments", token)
    assert enrolled.status == 201
    done = api.call("PUT", f"/enrollments/{enrolled.body['id']}/lessons/{course['lesson_ids'][0]}/progress", token,
                    {"status": "completed"})
    assert done.status == 200, done
    uid, conv, answer = uuid.UUID(me["id"]), uuid.uuid4(), uuid.uuid4()
    db.execute("INSERT INTO ai.conversations (id, course_id, user_id, course_version, title) "
               "VALUES (%s, %s, %s, 1, %s)", (conv, course_id, uid, "What is a tide?"))
    db.execute("INSERT INTO ai.messages (id, conversation_id, seq, role, content, refused, course_version) VALUES "
               "(%s, %s, 1, 'user', 'What is a tide, exported?', false, 1), "
               "(%s, %s, 2, 'assistant', 'The Moon pulls the sea.', false, 1)", (uuid.uuid4(), conv, answer, conv))
    db.execute("INSERT INTO ai.message_feedback (message_id, user_id, helpful, comment) VALUES (%s, %s, true, 'clear')",
               (answer, uid))
    note = uuid.uuid4()
    db.execute("INSERT INTO notify.notifications (id, user_id, type, dedupe_key, title, body, event_id) "
               "VALUES (%s, %s, 'enrollment_confirmed', %s, 'You are enrolled', 'Welcome', %s)",
               (note, uid, f"export:{note}", uuid.uuid4()))
    db.execute("INSERT INTO notify.preferences (user_id, type, channel, cadence) "
               "VALUES (%s, 'course_updated', 'email', 'weekly')", (uid,))
    db.execute("INSERT INTO notify.emails (id, notification_id, user_id, type, to_address, subject, text_body, "
               "html_body, unsubscribe_url) VALUES (%s, %s, %s, 'enrollment_confirmed', %s, 'You are enrolled', "
               "'t', 'h', 'u')", (uuid.uuid4(), note, uid, me["email"]))
    # When the learner exports
    r = api.call("GET", "/me/export", token)
    assert r.status == 200, r
    assert r.headers["content-disposition"].startswith("attachment;")
    doc = r.body
    # Then every part is there
    assert doc["format"] == "smartcourse.export.v1"
    assert doc["account"]["email"] == me["email"] and doc["account"]["name"] == "Ada Export"
    assert len(doc["sessions"]) == 1 and doc["sessions"][0]["ended_at"] is None
    [e] = doc["enrollments"]
    assert e["course_title"] == "Export course"
    assert {p["status"] for p in e["progress"]} == {"completed", "not_started"}
    [c] = doc["assistant_conversations"]
    assert [m["content"] for m in c["messages"]] == ["What is a tide, exported?", "The Moon pulls the sea."]
    assert c["messages"][1]["feedback"] == {"helpful": True, "comment": "clear"}
    assert [n["title"] for n in doc["notifications"]["inbox"]] == ["You are enrolled"]
    assert doc["notifications"]["preferences"][0]["cadence"] == "weekly"
    assert doc["notifications"]["emails"][0]["to_address"] == me["email"]
    assert [x["purpose"] for x in doc["emailed_links"]] == ["email_verification"]  # sent at registration
    assert doc["certificates"] == [] and doc["courses_taught"] == []
    # And nothing of anyone else
    text = json.dumps(doc)
    assert other["email"] not in text and other["id"] not in text and "Someone Else" not in text
    assert api.call("GET", "/me/export", other_token).body["assistant_conversations"] == []
    assert api.call("GET", "/me/export").status == 401
    # An instructor's export lists the courses they teach
    assert [x["title"] for x in api.call("GET", "/me/export", teacher).body["courses_taught"]] == ["Export course"]
