"""xAPI 1.0.3 statements from analytics.statements rows (plain Python, no I/O).

A statement is made of one learning event (or, for `asked`, one learner's question to the course
assistant): its id is the UUID v5 of the event id (of the answer message's id for `asked`:
`statement_id`), so repeated exports give the same ids and an LRS receiving one twice keeps one. The actor is an
account {homePage, name: the pseudonymous learner id}: never a name, an email or a user id. Verbs
are the ADL vocabulary's (`VERBS`); objects are Activities whose IRIs live under the deployment's
base (`XAPI_ACTIVITY_BASE`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: namespace of the statement ids (uuid5(NAMESPACE, str(event_id))); fixed forever
NAMESPACE = uuid.UUID("6f1c7a52-4a0e-5b8e-9a57-3b1f0c2e9d41")
VERSION = "1.0.3"

#: verb -> (IRI, display): ADL's vocabulary (http://adlnet.gov/expapi/verbs/...) and, for
#: `earned`, the xAPI vocabulary's (https://w3id.org/xapi/...): ADL registers no "earned"
VERBS: dict[str, tuple[str, str]] = {
    "registered": ("http://adlnet.gov/expapi/verbs/registered", "registered"),
    "progressed": ("http://adlnet.gov/expapi/verbs/progressed", "progressed"),
    "completed": ("http://adlnet.gov/expapi/verbs/completed", "completed"),
    "earned": ("https://w3id.org/xapi/dod-isd/verbs/earned", "earned"),
    "voided": ("http://adlnet.gov/expapi/verbs/voided", "voided"),
    "asked": ("http://adlnet.gov/expapi/verbs/asked", "asked"),
}
COURSE_TYPE = "http://adlnet.gov/expapi/activities/course"
LESSON_TYPE = "http://adlnet.gov/expapi/activities/lesson"
#: cmi5's progress extension: the learner's percent of the course after the event
PROGRESS_EXTENSION = "https://w3id.org/xapi/cmi5/result/extensions/progress"


def statement_id(event_id: uuid.UUID) -> uuid.UUID:
    """The statement's id: UUID v5 of the event id (of the answer message's id for `asked`)."""
    return uuid.uuid5(NAMESPACE, str(event_id))


@dataclass(frozen=True)
class Row:
    """One analytics.statements row with the titles joined."""

    statement_id: uuid.UUID
    course_id: uuid.UUID
    learner: uuid.UUID
    verb: str
    at: datetime
    course_title: str | None = None
    lesson_id: uuid.UUID | None = None
    lesson_title: str | None = None
    percent: int | None = None
    voids: uuid.UUID | None = None


def course_iri(base: str, course_id: uuid.UUID) -> str:
    return f"{base.rstrip('/')}/courses/{course_id}"


def lesson_iri(base: str, course_id: uuid.UUID, lesson_id: uuid.UUID) -> str:
    return f"{course_iri(base, course_id)}/lessons/{lesson_id}"


def _activity(iri: str, kind: str, title: str | None) -> dict[str, Any]:
    definition: dict[str, Any] = {"type": kind}
    if title:
        definition["name"] = {"en-US": title}
    return {"objectType": "Activity", "id": iri, "definition": definition}


def _timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def statement(row: Row, *, base: str, home_page: str) -> dict[str, Any]:
    """The xAPI statement of one row (required: id, actor, verb, object, timestamp; version)."""
    iri, display = VERBS[row.verb]
    course = _activity(course_iri(base, row.course_id), COURSE_TYPE, row.course_title)
    out: dict[str, Any] = {
        "id": str(row.statement_id),
        "actor": {"objectType": "Agent", "account": {"homePage": home_page, "name": str(row.learner)}},
        "verb": {"id": iri, "display": {"en-US": display}},
        "timestamp": _timestamp(row.at),
        "version": VERSION,
    }
    if row.verb == "voided":
        out["object"] = {"objectType": "StatementRef", "id": str(row.voids)}
        return out
    # a lesson is the object of `progressed` and of an `asked` whose best passage was in it (the
    # question text is never sent: docs/analytics.md, "xAPI export")
    if row.verb in ("progressed", "asked") and row.lesson_id is not None:
        out["object"] = _activity(lesson_iri(base, row.course_id, row.lesson_id), LESSON_TYPE, row.lesson_title)
        out["context"] = {"contextActivities": {"parent": [course]}, "platform": "SmartCourse"}
    else:
        out["object"] = course
        out["context"] = {"platform": "SmartCourse"}
    if row.verb == "progressed":
        out["result"] = {"completion": True, "extensions": {PROGRESS_EXTENSION: row.percent or 0}}
    elif row.verb == "completed":
        out["result"] = {"completion": True, "extensions": {PROGRESS_EXTENSION: 100}}
    return out
