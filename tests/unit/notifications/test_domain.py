"""The notification rules without I/O: the catalogue, what each event says, milestones, merged
course updates, preferences and their rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from smartcourse.errors import RuleViolated
from smartcourse.notifications import domain
from smartcourse.notifications.schemas import TypeName

USER, COURSE = uuid.uuid4(), uuid.uuid4()
AT = datetime(2026, 12, 6, 10, 15, tzinfo=UTC)


def lesson(title: str, body: str = "b", lesson_id: str | None = None) -> dict[str, object]:
    return {"lesson_id": lesson_id or title, "title": title, "kind": "text", "body": body, "asset_id": None}


def test_the_catalogue_and_the_api_name_the_same_types_and_offer_in_app_for_each() -> None:
    assert set(TypeName.__args__) == set(domain.CATALOGUE)  # type: ignore[attr-defined]
    for kind in domain.CATALOGUE.values():
        assert "in_app" in kind.defaults and set(kind.defaults) <= set(domain.CHANNELS)
        assert set(kind.defaults.values()) <= set(domain.CADENCES) and kind.locked <= set(kind.defaults)
    assert domain.CATALOGUE["certificate_revoked"].locked == {"in_app"}


def test_milestones_are_the_listed_counts_every_thousand_after_and_the_capacity() -> None:
    reached = [n for n in range(1, 3001) if domain.milestone(n, None) is not None]
    assert reached == [10, 25, 50, 100, 250, 500, 1000, 2000, 3000]
    assert domain.milestone(7, 7) == 7 and domain.milestone(6, 7) is None
    full = domain.enrollment_milestone(USER, COURSE, "SQL", 7, 7)
    assert "full" in full.title and full.dedupe_key == f"milestone:{COURSE}:7"
    assert "reached 10" in domain.enrollment_milestone(USER, COURSE, "SQL", 10, 30).title


def test_changed_lessons_are_the_added_or_edited_ones_in_reading_order() -> None:
    before = [lesson("Intro"), lesson("Joins", "old"), lesson("Gone")]
    after = [lesson("Intro"), lesson("Joins", "new"), lesson("Indexes")]
    assert domain.changed_lessons(before, after) == ["Joins", "Indexes"]
    renamed = [lesson("Intro, revised", lesson_id="Intro"), lesson("Joins", "old")]
    assert domain.changed_lessons(before, renamed) == ["Intro, revised"]
    assert domain.changed_lessons(before, before) == []


def test_course_updates_merge_within_the_hold_and_list_at_most_five_lessons() -> None:
    changed = [f"L{i}" for i in range(8)]
    first = domain.course_updated(USER, COURSE, "SQL", 2, changed, AT)
    assert first is not None and first.body == "New or changed: L0, L1, L2, L3, L4 and 3 more."
    same_hour = domain.course_updated(USER, COURSE, "SQL", 3, ["L9"], AT + timedelta(minutes=30))
    next_hour = domain.course_updated(USER, COURSE, "SQL", 4, ["L9"], AT + timedelta(hours=1))
    assert same_hour is not None and next_hour is not None
    assert same_hour.dedupe_key == first.dedupe_key != next_hour.dedupe_key
    assert domain.course_updated(USER, COURSE, "SQL", 5, [], AT) is None  # nothing to read


def test_one_message_per_object() -> None:
    cert = uuid.uuid4()
    issued = domain.certificate_issued(USER, cert, "SQL", "https://x.example/certificates/ABCDE")
    revoked = domain.certificate_revoked(USER, cert, "SQL", "issued in error")
    assert issued.link == "https://x.example/certificates/ABCDE" and "issued in error" in revoked.body
    assert issued.dedupe_key == revoked.dedupe_key == f"certificate:{cert}"  # different types: both kept


def test_effective_preferences_take_defaults_then_what_was_stored_but_never_unlock() -> None:
    prefs = domain.effective({("course_updated", "email"): "off", ("certificate_revoked", "in_app"): "off"},
                             "Europe/Paris", None)
    assert prefs.types["course_updated"]["email"] == domain.ChannelPreference("off", False)
    assert not prefs.types["course_updated"]["email"].enabled
    assert prefs.types["enrollment_confirmed"]["email"].cadence == "immediately"
    assert prefs.types["certificate_revoked"]["in_app"] == domain.ChannelPreference("immediately", True)
    assert "sms" not in prefs.types["course_updated"]
    assert prefs.types["enrollment_confirmed"]["sms"] == domain.ChannelPreference("off", False)


def test_preference_changes_name_each_rule_they_break() -> None:
    ok = domain.check_changes([("course_updated", {"email": "weekly", "in_app": "off"})])
    assert ok == [("course_updated", "email", "weekly"), ("course_updated", "in_app", "off")]
    assert domain.check_changes([("certificate_revoked", {"in_app": "immediately"})])  # unchanged is fine
    with pytest.raises(RuleViolated) as err:
        domain.check_changes([("certificate_revoked", {"in_app": "off"}), ("course_updated", {"sms": "daily"}),
                              ("certificate_revoked", {"email": "off"})])
    assert [d.field for d in err.value.details] == ["types.0.channels.in_app.cadence",
                                                    "types.1.channels.sms", "types.2.type"]
    with pytest.raises(RuleViolated):
        domain.check_quiet_hours(domain.QuietHours(AT.time(), AT.time()))
