"""Certificate rules in plain Python: codes, what is printed, what a verifier is told.

No SQL, AWS or PDF imports here: the service layer wires those adapters around these rules.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Literal

from smartcourse.errors import AppError, Forbidden, NotFound

# Crockford base32: no I, L, O, U, so a code read aloud or typed from paper is unambiguous.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS = 5
GROUP_LEN = 5
CODE_CHARS = GROUPS * GROUP_LEN          # 25 characters
CODE_BITS = CODE_CHARS * 5               # 125 bits
_DERIVE_PREFIX = b"smartcourse.certificate-code.v1:"
_READ_AS = {"O": "0", "I": "1", "L": "1", "U": "V"}  # Crockford's decoding of look-alikes

MAX_REASON = 500
MIN_REASON = 3


def _encode(value: int) -> str:
    chars = []
    for _ in range(CODE_CHARS):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    raw = "".join(reversed(chars))
    return "-".join(raw[i:i + GROUP_LEN] for i in range(0, CODE_CHARS, GROUP_LEN))


def new_code() -> str:
    """A fresh random code: 125 bits from the OS CSPRNG, e.g. `7K3QD-X9M2P-0BCWE-HTRZ4-5NFGA`."""
    return _encode(secrets.randbits(CODE_BITS))


def code_for_issuance(issuance_id: uuid.UUID) -> str:
    """The code of the certificate issued for one completion event.

    Deterministic, so a retried delivery (S3 put done, commit lost) prints the same code and
    overwrites the same object. The event id is a uuid4 (122 bits from the OS CSPRNG) minted by
    the API when the completion committed; SHA-256 spreads it over the 125 code bits. Whoever can
    read that event can read the certificates table as well, so the derivation reveals nothing new.
    """
    digest = hashlib.sha256(_DERIVE_PREFIX + str(issuance_id).encode()).digest()
    return _encode(int.from_bytes(digest, "big") >> (256 - CODE_BITS))


def normalise_code(raw: str) -> str | None:
    """The canonical form of a typed or scanned code, or None if it cannot be one.

    Case, spaces and hyphens are ignored; O reads as 0, I and L as 1 (Crockford)."""
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    cleaned = "".join(_READ_AS.get(c, c) for c in raw.upper() if c not in " -")
    if len(cleaned) != CODE_CHARS or any(c not in ALPHABET for c in cleaned):
        return None
    return "-".join(cleaned[i:i + GROUP_LEN] for i in range(0, CODE_CHARS, GROUP_LEN))


def verify_path(code: str) -> str:
    """The API route a verifier opens: `GET /certificates/{code}` (public)."""
    return f"/certificates/{code}"


def verify_url(public_base_url: str, code: str) -> str:
    return public_base_url.rstrip("/") + verify_path(code)


def certificate_key(code: str) -> str:
    """The private object key: one per code, so a retry overwrites the same object."""
    return f"certificates/{code}.pdf"


# --- errors ----------------------------------------------------------------------------------------

class IssuanceError(Exception):
    """Issuing failed. `permanent` ones cannot succeed on a retry: the record ends on the DLQ."""

    code: ClassVar[str] = "issuance_failed"
    permanent: ClassVar[bool] = False


class RenderError(IssuanceError):
    """The PDF cannot be produced for these facts (e.g. a character no bundled font can draw)."""

    code = "render_error"
    permanent = True


class EnrollmentNotFound(IssuanceError):
    code = "enrollment_not_found"
    permanent = True


class NotCompleted(IssuanceError):
    code = "enrollment_not_completed"
    permanent = True


class StorageError(IssuanceError):
    """The certificates bucket refused or did not answer: transient, the consumer waits it out
    (`smartcourse.consumer.is_transient`), then the mapping retries."""

    code = "storage_unavailable"
    permanent = False
    transient: ClassVar[bool] = True


class CertificateRevoked(AppError):
    status = 410
    code = "certificate_revoked"


class AlreadyRevoked(AppError):
    status = 409
    code = "already_revoked"


# --- what is printed -------------------------------------------------------------------------------

@dataclass(frozen=True)
class CompletionFacts:
    """What the database says about a completed enrollment, at issuance time."""

    enrollment_id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID
    course_version: int
    learner_name: str
    course_title: str
    instructor_name: str
    completed_at: datetime | None


@dataclass(frozen=True)
class Snapshot:
    """Exactly what the PDF shows; stored with the certificate and shown by verification."""

    learner_name: str
    course_title: str
    instructor_name: str
    completed_on: date
    course_version: int
    code: str
    verify_url: str

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["completed_on"] = self.completed_on.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            learner_name=str(data["learner_name"]),
            course_title=str(data["course_title"]),
            instructor_name=str(data["instructor_name"]),
            completed_on=date.fromisoformat(str(data["completed_on"])),
            course_version=int(data["course_version"]),
            code=str(data["code"]),
            verify_url=str(data["verify_url"]),
        )


def snapshot_for(facts: CompletionFacts, code: str, public_base_url: str) -> Snapshot:
    if facts.completed_at is None:
        raise NotCompleted(f"enrollment {facts.enrollment_id} has no completion date")
    return Snapshot(
        learner_name=" ".join(facts.learner_name.split()),
        course_title=" ".join(facts.course_title.split()),
        instructor_name=" ".join(facts.instructor_name.split()),
        completed_on=facts.completed_at.date(),
        course_version=facts.course_version,
        code=code,
        verify_url=verify_url(public_base_url, code),
    )


# --- verification and access -----------------------------------------------------------------------

Status = Literal["valid", "revoked", "withdrawn"]


@dataclass(frozen=True)
class Certificate:
    id: uuid.UUID
    enrollment_id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID
    code: str
    snapshot: Snapshot
    s3_key: str
    issued_at: datetime
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    revoked_by: uuid.UUID | None = None
    #: the holder deleted their account and withdrew it: the code answers only that
    withdrawn_at: datetime | None = None

    @property
    def status(self) -> Status:
        if self.withdrawn_at is not None:
            return "withdrawn"
        return "revoked" if self.revoked_at is not None else "valid"

    def public_view(self) -> dict[str, Any]:
        """What anyone holding the code is told: the printed facts and the status (a withdrawn
        certificate: only that, "withdrawn by the holder")."""
        if self.withdrawn_at is not None:
            return {"status": "withdrawn", "code": self.code, "withdrawn_at": self.withdrawn_at.isoformat(),
                    "message": "withdrawn by the holder"}
        s = self.snapshot
        view: dict[str, Any] = {
            "status": self.status,
            "code": self.code,
            "learner_name": s.learner_name,
            "course_title": s.course_title,
            "instructor_name": s.instructor_name,
            "completed_on": s.completed_on.isoformat(),
            "course_version": s.course_version,
            "issued_at": self.issued_at.isoformat(),
            "verify_url": s.verify_url,
        }
        if self.revoked_at is not None:
            view["revoked_at"] = self.revoked_at.isoformat()
            view["revoked_reason"] = self.revoked_reason
        return view

    def owner_view(self) -> dict[str, Any]:
        return {**self.public_view(), "id": str(self.id), "course_id": str(self.course_id),
                "enrollment_id": str(self.enrollment_id), "download_path": f"{verify_path(self.code)}/download"}


def check_can_download(cert: Certificate, user_id: uuid.UUID, is_admin: bool) -> None:
    """The owner and admins may download; nobody but an admin downloads a revoked certificate."""
    if not is_admin and cert.user_id != user_id:
        raise Forbidden("only the certificate's owner or an admin may download it")
    if cert.withdrawn_at is not None:
        raise NotFound("this certificate was withdrawn by its holder")
    if cert.revoked_at is not None and not is_admin:
        raise CertificateRevoked("this certificate was revoked and can no longer be downloaded",
                                 extra={"revoked_at": cert.revoked_at.isoformat(),
                                        "revoked_reason": cert.revoked_reason})


def check_can_revoke(cert: Certificate | None, is_admin: bool, code: str) -> Certificate:
    if not is_admin:
        raise Forbidden("only admins may revoke certificates")
    if cert is None:
        raise NotFound(f"no certificate has the code {code}")
    if cert.revoked_at is not None:
        raise AlreadyRevoked("this certificate is already revoked",
                             extra={"revoked_at": cert.revoked_at.isoformat(),
                                    "revoked_reason": cert.revoked_reason})
    return cert


def unknown_view(code: str) -> dict[str, Any]:
    return {"status": "unknown", "code": code,
            "error": {"code": "certificate_unknown", "message": "no certificate has this code"}}
