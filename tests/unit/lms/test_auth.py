"""smartcourse.auth: Argon2id password hashes and expiring HS256 access tokens."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from smartcourse.auth import (
    JwtSettings,
    Principal,
    bearer_token,
    hash_password,
    issue_token,
    resolve_jwt_secret,
    verify_password,
    verify_token,
)
from smartcourse.errors import ConfigurationError, Unauthorized

SECRET = "unit-test-secret-0123456789-0123456789-abcdef"


def test_password_hash_is_argon2id_and_verifies_only_the_right_password() -> None:
    h = hash_password("correct horse battery staple")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "correct horse battery staple")
    assert not verify_password(h, "wrong")
    assert not verify_password("not-a-hash", "anything")


def test_token_round_trip_names_the_user_and_role() -> None:
    uid = uuid.uuid4()
    token = issue_token(uid, "instructor", SECRET, 600)
    assert verify_token(token, SECRET) == Principal(uid, "instructor")


def test_expired_token_is_unauthorized() -> None:
    token = issue_token(uuid.uuid4(), "student", SECRET, 60, now=time.time() - 3600)
    with pytest.raises(Unauthorized, match="expired"):
        verify_token(token, SECRET)


def test_token_signed_with_another_secret_or_tampered_is_unauthorized() -> None:
    token = issue_token(uuid.uuid4(), "student", "another-secret-0123456789-0123456789-xyz", 600)
    with pytest.raises(Unauthorized):
        verify_token(token, SECRET)
    forged = jwt.encode({"sub": str(uuid.uuid4()), "role": "admin", "iss": "smartcourse", "iat": 1,
                         "exp": int(time.time()) + 60}, "x" * 40, algorithm="HS256")
    with pytest.raises(Unauthorized):
        verify_token(forged, SECRET)
    unsigned = jwt.encode({"sub": str(uuid.uuid4()), "role": "admin"}, None, algorithm="none")
    with pytest.raises(Unauthorized):
        verify_token(unsigned, SECRET)


def test_unknown_role_is_rejected_both_ways() -> None:
    with pytest.raises(ValueError):
        issue_token(uuid.uuid4(), "root", SECRET, 60)
    bad = jwt.encode({"sub": str(uuid.uuid4()), "role": "root", "iss": "smartcourse", "iat": 1,
                      "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized):
        verify_token(bad, SECRET)


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer ", "Token x"])
def test_bearer_header_must_be_present_and_well_formed(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        bearer_token(header)


def test_bearer_header_yields_the_token() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer   abc") == "abc"


def test_resolve_secret_prefers_env_and_requires_one() -> None:
    assert resolve_jwt_secret(JwtSettings(jwt_secret=SECRET)) == SECRET
    with pytest.raises(ConfigurationError, match="JWT_SECRET"):
        resolve_jwt_secret(JwtSettings(jwt_secret=None, jwt_secret_arn=None))
