"""Password reset and email verification, end to end on the real stack: the API records the link
and writes the event (no secret in it), NotificationsFunction signs the link and sends it through
SES (moto, read back), the link's page and form on the API change the password once, end every
session, and refuse a second use or a late one; the same answer for unknown addresses."""

from __future__ import annotations

import re
import secrets
import statistics
import time
import urllib.parse
import uuid
from typing import Any

import psycopg
import pytest

from smartcourse.events import EventEnvelope
from testkit.msk import msk_event
from tests.integration.lms.conftest import PASSWORD, Api
from tests.integration.notifications.conftest import Ctx
from tests.integration.notifications.test_emails import schedule, sent_to

pytestmark = pytest.mark.integration
FORM = {"content-type": "application/x-www-form-urlencoded"}


def _account(api: Api) -> tuple[str, str]:
    email = f"reset-{secrets.token_hex(5)}@example.com"
    r = api.call("POST", "/auth/register", json_body={"email": email, "password": PASSWORD, "name": "Grace"})
    assert r.status == 201, r
    return email, r.body["user"]["id"]


def _events(db: psycopg.Connection[Any], user_id: str, name: str) -> list[EventEnvelope]:
    rows = db.execute("SELECT payload FROM lms.outbox WHERE event_type = %s AND aggregate_id = %s ORDER BY seq",
                      (f"smartcourse.{name}.v1", user_id)).fetchall()
    return [EventEnvelope.model_validate(r["payload"]) for r in rows]


def _deliver(fn: Any, env: dict[str, str], *events: EventEnvelope) -> None:
    batch = msk_event(list(events), f"{env['TOPIC_PREFIX']}.user", first_offset=uuid.uuid4().int % 10**9)
    assert fn.handler(batch, Ctx()) == {"batchItemFailures": []}
    schedule(fn)


def _link(env: dict[str, str], address: str, path: str) -> str:
    """The newest link of `path` in the emails moto's SES was sent for `address`."""
    pattern = rf"{re.escape(env['PUBLIC_BASE_URL'])}/auth/{path}/[0-9a-f]{{32}}\.[A-Za-z0-9_-]{{43}}"
    links = [m for msg in sent_to(env["AWS_ENDPOINT_URL"], address)
             for m in re.findall(pattern, msg.get_body(("plain",)).get_content())]
    assert links, f"no {path} link was emailed to {address}"
    return links[-1].removeprefix(env["PUBLIC_BASE_URL"])


def test_a_password_reset_link_is_emailed_works_once_and_ends_every_session(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    email, user_id = _account(api)
    sessions = [api.call("POST", "/auth/login", json_body={"email": email, "password": PASSWORD}).body
                for _ in range(2)]
    asked = api.call("POST", "/auth/password-reset", json_body={"email": email})
    assert asked.status == 202, asked
    [event] = _events(db, user_id, "user.password_reset_requested")
    assert set(event.data) == {"link_id", "user_id", "expires_at"}  # the id, never the link
    _deliver(fn, in_process_env, event, event)  # redelivered: still one email
    [mail] = [m for m in sent_to(in_process_env["AWS_ENDPOINT_URL"], email)
              if m["Subject"] == "Reset your SmartCourse password"]
    assert mail["List-Unsubscribe"] is None  # the account's own security mail
    path = _link(in_process_env, email, "password-reset")
    # The page changes nothing (mail scanners open links); the form does.
    page = api.client.http.get(path)
    assert page.status_code == 200 and b'name="new_password"' in page.body
    assert api.call("GET", "/me", sessions[0]["access_token"]).status == 200
    body = urllib.parse.urlencode({"new_password": "a-reset-password-42"}).encode()
    done = api.client.http.post(path, headers=FORM, body=body)
    assert done.status_code == 200 and b"Your password is changed" in done.body
    for s in sessions:  # every session ended at once
        assert api.call("GET", "/me", s["access_token"]).status == 401
    assert api.call("POST", "/auth/login", json_body={"email": email, "password": PASSWORD}).status == 401
    new = api.call("POST", "/auth/login", json_body={"email": email, "password": "a-reset-password-42"})
    assert new.status == 200 and api.call("GET", "/me", new.body["access_token"]).body["user"]["email_verified_at"]
    # Single use
    again = api.client.http.post(path, headers=FORM, body=urllib.parse.urlencode(
        {"new_password": "yet-another-password"}).encode())
    assert again.status_code == 404 and b"already used" in again.body
    assert api.client.http.get(path).status_code == 404
    audit = db.execute("SELECT action FROM lms.audit_log WHERE subject_id = %s", (user_id,)).fetchall()
    assert [a["action"] for a in audit] == ["password_reset"]


def test_a_tampered_expired_or_other_purpose_link_changes_nothing(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    email, user_id = _account(api)
    api.call("POST", "/auth/password-reset", json_body={"email": email})
    _deliver(fn, in_process_env, *_events(db, user_id, "user.password_reset_requested"),
             *_events(db, user_id, "user.email_verification_requested"))
    path = _link(in_process_env, email, "password-reset")
    ident, mac = path.rsplit("/", 1)[1].split(".")
    tampered = f"/auth/password-reset/{ident}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
    body = urllib.parse.urlencode({"new_password": "a-forged-password"}).encode()
    assert api.client.http.post(tampered, headers=FORM, body=body).status_code == 404
    # The verification link of the same account is not a reset link
    verify_token = _link(in_process_env, email, "verify-email").rsplit("/", 1)[1]
    assert api.client.http.post(f"/auth/password-reset/{verify_token}", headers=FORM, body=body).status_code == 404
    # Expired (the clock moved past its 30 minutes)
    db.execute("UPDATE lms.account_tokens SET expires_at = now() - interval '1 second' WHERE user_id = %s "
               "AND purpose = 'password_reset'", (user_id,))
    late = api.client.http.post(path, headers=FORM, body=body)
    assert late.status_code == 404 and b"expired" in late.body
    assert api.call("POST", "/auth/login", json_body={"email": email, "password": PASSWORD}).status == 200


def test_unknown_and_known_addresses_get_the_same_answer_in_the_same_time_and_requests_are_capped(
        api: Api, db: psycopg.Connection[Any]) -> None:
    known = [_account(api) for _ in range(15)]
    replies = {(r.status, r.body["message"]) for r in (
        api.call("POST", "/auth/password-reset", json_body={"email": e})
        for e in (known[0][0], f"nobody-{secrets.token_hex(5)}@example.com"))}
    assert len(replies) == 1
    # Timing: interleaved known / unknown requests, medians compared. Each known address is asked
    # while under its hourly cap, so each of these requests writes its event: the most work a
    # known address can cost (about 0.4 ms more than an unknown one: the route answers after a
    # floor, RESET_ANSWER_FLOOR_S, for every address).
    known_ms: list[float] = []
    unknown_ms: list[float] = []
    for _ in range(2):
        for email, _ in known:
            for target, out in ((email, known_ms), (f"nobody-{secrets.token_hex(5)}@example.com", unknown_ms)):
                t = time.perf_counter()
                assert api.call("POST", "/auth/password-reset", json_body={"email": target}).status == 202
                out.append((time.perf_counter() - t) * 1000)
    k, u = statistics.median(known_ms), statistics.median(unknown_ms)
    print(f"\npassword reset answer: known median {k:.2f} ms, unknown median {u:.2f} ms ({len(known_ms)} each)")
    assert abs(k - u) <= 0.1 * max(k, u), (k, u)
    # At most LINKS_PER_HOUR emails per address and hour, however often it is asked
    email, user_id = known[0]
    for _ in range(3):
        api.call("POST", "/auth/password-reset", json_body={"email": email})
    assert len(_events(db, user_id, "user.password_reset_requested")) == 3


def test_email_verification_is_sent_at_registration_and_confirmed_by_the_pages_button(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    email, user_id = _account(api)
    token = api.call("POST", "/auth/login", json_body={"email": email, "password": PASSWORD}).body["access_token"]
    assert api.call("GET", "/me", token).body["user"]["email_verified_at"] is None
    _deliver(fn, in_process_env, *_events(db, user_id, "user.email_verification_requested"))
    path = _link(in_process_env, email, "verify-email")
    page = api.client.http.get(path)
    assert page.status_code == 200 and b'name="confirm"' in page.body
    assert api.call("GET", "/me", token).body["user"]["email_verified_at"] is None  # a GET changes nothing
    done = api.client.http.post(path, headers=FORM, body=b"confirm=yes")
    assert done.status_code == 200 and b"confirmed" in done.body
    assert api.call("GET", "/me", token).body["user"]["email_verified_at"]
    assert api.client.http.post(path, headers=FORM, body=b"confirm=yes").status_code == 404  # spent
    # Asking again (signed in) sends a new link
    assert api.call("POST", "/me/email-verification", token, {}).status == 202
    assert len(_events(db, user_id, "user.email_verification_requested")) == 2
