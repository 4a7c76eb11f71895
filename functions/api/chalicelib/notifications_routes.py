"""The caller's notifications over HTTP: the inbox (read, mark read) and preferences, and the
one-click unsubscribe of notification emails (a page and its POST, no sign-in: the signed token
in the link is the proof). Logic lives in `smartcourse.notifications.service`;
NotificationsFunction writes the inbox from events and sends the emails."""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime

from chalice import Blueprint, Response
from pydantic import ValidationError

from chalicelib import deps
from chalicelib.api import body, endpoint, principal, query
from chalicelib.pages import page
from chalicelib.web import json_response
from smartcourse.errors import NotFound
from smartcourse.http import path_id, validation_error
from smartcourse.notifications import schemas as s
from smartcourse.notifications import service, tokens
from smartcourse.notifications.domain import label_of

bp = Blueprint(__name__)
TAG = "notifications"
INBOX = "/me/notifications"
PREFERENCES = "/me/notification-preferences"


@endpoint(bp, INBOX, "GET", summary="The caller's notifications, newest first, with the unread count", tag=TAG,
          query=s.InboxQuery, response=s.NotificationPage)
def inbox() -> Response:
    p = principal(bp)
    q = query(bp, s.InboxQuery)
    with deps.database().transaction() as conn:
        page = service.inbox(conn, p, q)
    return json_response(page.model_dump(mode="json"))


@endpoint(bp, INBOX + "/{notification_id}/read", "POST", summary="Mark one of the caller's notifications read",
          tag=TAG, response=s.Notification)
def mark_read(notification_id: str) -> Response:
    p = principal(bp)
    nid = path_id(notification_id, "notification")
    body(bp, s.Request)  # no fields: rejects any
    with deps.database().transaction() as conn:
        item = service.mark_read(conn, p, nid)
    return json_response(item.model_dump(mode="json"))


@endpoint(bp, INBOX + "/read-all", "POST", summary="Mark all the caller's notifications read", tag=TAG,
          response=s.ReadAllResult)
def mark_all_read() -> Response:
    p = principal(bp)
    body(bp, s.Request)
    with deps.database().transaction() as conn:
        result = service.mark_all_read(conn, p)
    return json_response(result.model_dump(mode="json"))


@endpoint(bp, PREFERENCES, "GET", summary="The caller's notification preferences: per type and channel, "
          "time zone, quiet hours", tag=TAG, response=s.Preferences)
def preferences() -> Response:
    p = principal(bp)
    with deps.database().transaction() as conn:
        prefs = service.preferences(conn, p)
    return json_response(prefs.model_dump(mode="json"))


@endpoint(bp, PREFERENCES, "PUT", summary="Change notification preferences (only what is given)", tag=TAG,
          request=s.PreferencesUpdate, response=s.Preferences, errors=("422",))
def update_preferences() -> Response:
    p = principal(bp)
    req = body(bp, s.PreferencesUpdate)
    with deps.database().transaction() as conn:
        prefs = service.update_preferences(conn, p, req)
    return json_response(prefs.model_dump(mode="json"))


# --- one-click unsubscribe (RFC 8058): the link in every notification email, no sign-in ----------

UNSUBSCRIBE = "/unsubscribe/{token}"
TOKEN_SCHEMA = (("token", {"type": "string", "pattern": tokens.TOKEN_PATTERN, "maxLength": 460}),)
_FORM = """<form method="post">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Stop these emails</button>
</form>
"""


def _page(title: str, text: str, status: int = 200, form: bool = False) -> Response:
    return page(title, text, status, _FORM if form else "")


def _key() -> bytes:
    return deps.config().jwt_secret.encode()


@endpoint(bp, UNSUBSCRIBE, "GET", summary="The unsubscribe page of a notification email (no sign-in; changes "
          "nothing until its button is pressed)", tag=TAG, auth=False, html=True, path_schemas=TOKEN_SCHEMA)
def unsubscribe_page(token: str) -> Response:
    try:
        what = tokens.verify(_key(), token, datetime.now(UTC))
    except tokens.InvalidToken as exc:
        return _page("This link does not work", str(exc), 404)
    label = label_of(what.type)
    return _page("Stop these emails?", f"You will no longer receive \u201c{label}\u201d notifications by email. "
                 "You can turn them on again in your notification preferences.", form=True)


@endpoint(bp, UNSUBSCRIBE, "POST", summary="One-click unsubscribe (RFC 8058: body List-Unsubscribe=One-Click, "
          "form-encoded; no sign-in)", tag=TAG, auth=False, html=True, path_schemas=TOKEN_SCHEMA,
          request=s.OneClick, request_media="application/x-www-form-urlencoded")
def unsubscribe(token: str) -> Response:
    raw = bp.current_request.raw_body or b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    form = {k: v[-1] for k, v in urllib.parse.parse_qs(text, keep_blank_values=True).items()}
    try:
        s.OneClick.model_validate(form)
    except ValidationError as exc:
        raise validation_error(exc) from None
    try:
        with deps.database().transaction() as conn:
            what = service.unsubscribe(conn, _key(), token)
    except NotFound as exc:
        return _page("This link does not work", str(exc), 404)
    label = label_of(what.type)
    return _page("You are unsubscribed", f"You will no longer receive \u201c{label}\u201d notifications by email.")
