"""Who may download and revoke, and what the public check shows, in plain domain terms."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from smartcourse.certificates.domain import (
    AlreadyRevoked,
    Certificate,
    CertificateRevoked,
    Snapshot,
    check_can_download,
    check_can_revoke,
    unknown_view,
)
from smartcourse.errors import Forbidden, NotFound

OWNER, STRANGER, ADMIN = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def cert(revoked: bool = False) -> Certificate:
    code = "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"
    snap = Snapshot("Zoë", "SQL", "Ada", date(2026, 11, 25), 1, code, f"https://x/certificates/{code}")
    return Certificate(uuid.uuid4(), uuid.uuid4(), OWNER, uuid.uuid4(), code, snap, f"certificates/{code}.pdf", NOW,
                       revoked_at=NOW if revoked else None, revoked_reason="plagiarism" if revoked else None,
                       revoked_by=ADMIN if revoked else None)


def test_owner_and_admin_download_a_valid_certificate_a_stranger_cannot() -> None:
    check_can_download(cert(), OWNER, False)
    check_can_download(cert(), ADMIN, True)
    with pytest.raises(Forbidden):
        check_can_download(cert(), STRANGER, False)


def test_a_revoked_certificate_is_gone_for_its_owner_but_admins_keep_access() -> None:
    with pytest.raises(CertificateRevoked) as info:
        check_can_download(cert(revoked=True), OWNER, False)
    assert info.value.status == 410 and info.value.to_body()["error"]["revoked_reason"] == "plagiarism"
    check_can_download(cert(revoked=True), ADMIN, True)


def test_only_admins_revoke_known_unrevoked_certificates() -> None:
    with pytest.raises(Forbidden):
        check_can_revoke(cert(), False, "X")
    with pytest.raises(NotFound):
        check_can_revoke(None, True, "X")
    with pytest.raises(AlreadyRevoked):
        check_can_revoke(cert(revoked=True), True, "X")
    c = cert()
    assert check_can_revoke(c, True, c.code) is c


def test_public_views_say_valid_revoked_with_reason_and_date_or_unknown() -> None:
    assert cert().public_view()["status"] == "valid" and "revoked_reason" not in cert().public_view()
    revoked = cert(revoked=True).public_view()
    assert (revoked["status"], revoked["revoked_reason"], revoked["revoked_at"]) == \
        ("revoked", "plagiarism", NOW.isoformat())
    assert revoked["learner_name"] == "Zoë" and revoked["completed_on"] == "2026-11-25"
    assert unknown_view("NOPE")["status"] == "unknown"
