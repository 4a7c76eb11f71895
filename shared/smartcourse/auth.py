"""Authentication primitives every HTTP function shares: password hashing (Argon2id, memory-hard)
and JWT access tokens (HS256, expiring), plus where the signing key comes from.

Dependency-light on purpose (PyJWT, argon2-cffi): the assistant and certificates functions import
it to verify tokens. argon2 is imported only by the password functions, PyJWT (which imports
`cryptography` when it is installed: 80-150 ms of a cold start here) only when a token is made or
checked, so routes without a token (health, public pages, sign-in forms) never load it
(tests/unit/foundation/test_lazy_imports.py).
"""

from __future__ import annotations

import functools
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcourse.errors import ConfigurationError, Unauthorized

ISSUER = "smartcourse"
ALGORITHM = "HS256"
ROLES = ("student", "instructor", "admin")
MIN_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: uuid.UUID
    role: str
    #: the session (sign-in) the access token belongs to (claim `sid`); every HTTP function checks
    #: it is still live (`smartcourse.readonly.lms_sessions`)
    session_id: uuid.UUID | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class JwtSettings(BaseSettings):
    """JWT_SECRET (local, from config/local.env) or JWT_SECRET_ARN (Secrets Manager in AWS)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    jwt_secret: str | None = Field(default=None, min_length=MIN_SECRET_BYTES)
    jwt_secret_arn: str | None = None
    #: access tokens live at most 15 minutes (refresh tokens renew them; sessions end at once)
    jwt_ttl_s: int = Field(default=900, ge=60, le=900)


# --- passwords ------------------------------------------------------------------------------------

@functools.cache
def _hasher() -> Any:
    from argon2 import PasswordHasher  # Argon2id with RFC 9106 low-memory defaults (64 MiB, t=3)

    return PasswordHasher()


def hash_password(password: str) -> str:
    return str(_hasher().hash(password))


def verify_password(password_hash: str, password: str) -> bool:
    """True iff `password` matches; never raises for a wrong password or a malformed hash."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return bool(_hasher().verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@functools.cache
def dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so timing does not reveal it."""
    return hash_password("not-a-real-password-" + uuid.uuid4().hex)


# --- tokens ---------------------------------------------------------------------------------------

def issue_token(user_id: uuid.UUID | str, role: str, secret: str, ttl_s: int, *, now: float | None = None,
                session_id: uuid.UUID | None = None) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    iat = int(now if now is not None else time.time())
    claims = {"sub": str(user_id), "role": role, "iss": ISSUER, "iat": iat, "exp": iat + ttl_s,
              "jti": uuid.uuid4().hex}
    if session_id is not None:
        claims["sid"] = str(session_id)
    import jwt

    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, secret: str) -> Principal:
    """The principal a valid, unexpired token names; `Unauthorized` otherwise."""
    import jwt

    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["sub", "role", "exp", "iat", "iss"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the access token has expired") from None
    except jwt.PyJWTError:
        raise Unauthorized("the access token is not valid") from None
    role = claims.get("role")
    if role not in ROLES:
        raise Unauthorized("the access token is not valid")
    try:
        user_id = uuid.UUID(str(claims["sub"]))
        session_id = uuid.UUID(str(claims["sid"])) if "sid" in claims else None
    except ValueError:
        raise Unauthorized("the access token is not valid") from None
    return Principal(user_id, str(role), session_id)


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header; `Unauthorized` when absent."""
    if not authorization:
        raise Unauthorized("an Authorization: Bearer token is required")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return token.strip()


# --- the signing key ------------------------------------------------------------------------------

class _HasJwt(Protocol):
    @property
    def jwt_secret(self) -> str | None: ...
    @property
    def jwt_secret_arn(self) -> str | None: ...


def resolve_jwt_secret(settings: _HasJwt) -> str:
    """JWT_SECRET if set (local), else the Secrets Manager secret JWT_SECRET_ARN (its text, or
    ``secret`` / ``jwt_secret`` in its JSON), at least MIN_SECRET_BYTES long."""
    from smartcourse import secrets  # local import: only AWS deployments read Secrets Manager
    from smartcourse.aws import location_of

    value = secrets.resolve(settings.jwt_secret, settings.jwt_secret_arn, location_of(settings),
                            setting="JWT_SECRET", arn_setting="JWT_SECRET_ARN",
                            json_keys=("secret", "jwt_secret")) or ""
    if len(value.encode()) < MIN_SECRET_BYTES:  # JWT_SECRET itself is checked by JwtSettings already
        raise ConfigurationError(f"the JWT secret in {settings.jwt_secret_arn} is shorter than "
                                 f"{MIN_SECRET_BYTES} bytes")
    return value
