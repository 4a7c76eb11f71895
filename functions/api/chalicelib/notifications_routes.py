"""The caller's notifications over HTTP: the inbox (read, mark read) and preferences. Logic lives
in `smartcourse.notifications.service`; NotificationsFunction writes the inbox from events."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import deps
from chalicelib.api import body, endpoint, principal, query
from chalicelib.web import json_response
from smartcourse.http import path_id
from smartcourse.notifications import schemas as s
from smartcourse.notifications import service

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
