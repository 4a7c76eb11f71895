"""Certificate use cases. Each runs inside the caller's transaction (`conn`); adapters (renderer,
store) are passed in, so tests use fakes and the entrypoints stay thin.

Issuance order, all in the consumer's transaction (with its processed_events row):
  facts -> INSERT certificate ON CONFLICT (enrollment_id) DO NOTHING -> render -> S3 put -> outbox.
Anything that raises rolls the whole transaction back: no certificate row, no event, and the
mapping retries. If the put succeeded but the commit failed, the retry derives the same code from
the same event id, renders again and overwrites the same key: harmless.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import psycopg

from smartcourse.auth import Principal
from smartcourse.certificates import repository as repo
from smartcourse.certificates.domain import (
    Certificate,
    EnrollmentNotFound,
    IssuanceError,
    Snapshot,
    certificate_key,
    check_can_download,
    check_can_revoke,
    code_for_issuance,
    normalise_code,
    snapshot_for,
    unknown_view,
)
from smartcourse.errors import NotFound
from smartcourse.events import EventEnvelope, new_event
from smartcourse.observability import count, logger
from smartcourse.outbox import write_event

Conn = psycopg.Connection[Any]
DOWNLOAD_TTL_S = 300
MAX_LIST = 200


class Renderer(Protocol):
    def render(self, snapshot: Snapshot) -> bytes: ...


class Store(Protocol):
    def put(self, key: str, body: bytes, *, metadata: dict[str, str] | None = None) -> None: ...
    def presigned_get(self, key: str, expires_s: int) -> str: ...


class InvalidCompletionEvent(IssuanceError):
    code = "invalid_event"
    permanent = True


@dataclass(frozen=True)
class IssueResult:
    certificate_id: uuid.UUID
    code: str
    created: bool  # False: the enrollment already had its certificate (nothing rendered or sent)


def _enrollment_id(envelope: EventEnvelope) -> uuid.UUID:
    raw = envelope.data.get("enrollment_id", envelope.aggregate_id)
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise InvalidCompletionEvent(f"course.completed {envelope.id} has no valid enrollment_id: {raw!r}") from None


def issue_for_completion(conn: Conn, envelope: EventEnvelope, *, renderer: Renderer, store: Store,
                         public_base_url: str) -> IssueResult:
    """Issue the certificate of the enrollment a `course.completed` event names, once."""
    enrollment_id = _enrollment_id(envelope)
    facts = repo.completion_facts(conn, enrollment_id)
    if facts is None:
        raise EnrollmentNotFound(f"enrollment {enrollment_id} does not exist")
    code = code_for_issuance(envelope.id)
    snapshot = snapshot_for(facts, code, public_base_url)
    certificate_id = uuid.uuid4()
    key = certificate_key(code)
    issued_at = repo.insert_certificate(conn, certificate_id, facts, snapshot, key)
    if issued_at is None:
        existing = repo.by_enrollment(conn, enrollment_id)
        assert existing is not None
        logger.info("enrollment already has its certificate", extra={"enrollment_id": str(enrollment_id),
                                                                     "certificate_code": existing.code})
        return IssueResult(existing.id, existing.code, created=False)
    pdf = renderer.render(snapshot)
    store.put(key, pdf, metadata={"certificate-id": str(certificate_id), "enrollment-id": str(enrollment_id)})
    write_event(conn, new_event(
        "certificate.issued", certificate_id,
        {"certificate_id": str(certificate_id), "code": code, "enrollment_id": str(enrollment_id),
         "user_id": str(facts.user_id), "course_id": str(facts.course_id),
         "course_version": facts.course_version, "s3_key": key, "verify_url": snapshot.verify_url,
         "issued_at": issued_at.isoformat()},
        correlation_id=envelope.correlation_id, aggregate_type="certificate"))
    logger.info("certificate issued", extra={"enrollment_id": str(enrollment_id), "certificate_code": code,
                                             "pdf_bytes": len(pdf)})
    count("CertificatesIssued")
    return IssueResult(certificate_id, code, created=True)


# --- API use cases ---------------------------------------------------------------------------------

def verify(conn: Conn, raw_code: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of the public check: 200 valid or revoked, 404 unknown (body says so)."""
    code = normalise_code(raw_code)
    cert = repo.by_code(conn, code) if code is not None else None
    if cert is None:
        return 404, unknown_view(raw_code[:64])
    return 200, cert.public_view()


def my_certificates(conn: Conn, principal: Principal) -> list[dict[str, Any]]:
    return [c.owner_view() for c in repo.for_user(conn, principal.user_id, MAX_LIST)]


def _find(conn: Conn, raw_code: str, *, lock: bool = False) -> tuple[str, Certificate | None]:
    code = normalise_code(raw_code)
    if code is None:
        return raw_code[:64], None
    return code, repo.by_code(conn, code, lock=lock)


def download(conn: Conn, principal: Principal, raw_code: str, store: Store,
             expires_s: int = DOWNLOAD_TTL_S) -> dict[str, Any]:
    code, cert = _find(conn, raw_code)
    if cert is None:
        raise NotFound(f"no certificate has the code {code}")
    check_can_download(cert, principal.user_id, principal.is_admin)
    return {"code": cert.code, "url": store.presigned_get(cert.s3_key, expires_s), "expires_in": expires_s}


def revoke(conn: Conn, principal: Principal, raw_code: str, reason: str, *,
           correlation_id: str | None = None) -> Certificate:
    """Revoke with a reason (admins), and write `certificate.revoked` in the same transaction."""
    code, found = _find(conn, raw_code, lock=True)
    cert = check_can_revoke(found, principal.is_admin, code)
    revoked = repo.revoke(conn, cert.id, reason, principal.user_id)
    assert revoked.revoked_at is not None
    write_event(conn, new_event(
        "certificate.revoked", revoked.id,
        {"certificate_id": str(revoked.id), "code": revoked.code, "enrollment_id": str(revoked.enrollment_id),
         "user_id": str(revoked.user_id), "course_id": str(revoked.course_id), "reason": reason,
         "revoked_at": _iso(revoked.revoked_at), "revoked_by": str(principal.user_id)},
        correlation_id=correlation_id, aggregate_type="certificate"))
    return revoked


def _iso(value: datetime) -> str:
    return value.isoformat()
