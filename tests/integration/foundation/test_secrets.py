"""Secrets from Secrets Manager (moto server on the stack's endpoint, as LocalStack or AWS would
serve them): the database URL, the JWT signing key and the Groq key each resolve from a secret,
a password with URL delimiters survives, and a rotated secret is seen after the cache's TTL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from smartcourse import secrets
from smartcourse.assistant.bootstrap import resolve_groq_key
from smartcourse.assistant.settings import AssistantSettings
from smartcourse.auth import resolve_jwt_secret
from smartcourse.errors import ConfigurationError
from smartcourse.settings import CommonSettings, resolve_database_url

pytestmark = pytest.mark.integration


@pytest.fixture
def sm(stack_endpoints: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    secrets.forget()
    yield boto3.client("secretsmanager", endpoint_url=stack_endpoints.aws_endpoint_url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    secrets.forget()


def _secret(sm: Any, value: str) -> str:
    return str(sm.create_secret(Name=f"test/{uuid.uuid4()}", SecretString=value)["ARN"])


def test_the_database_url_comes_from_an_rds_style_secret_and_connects(sm: Any, stack_endpoints: Any,
                                                                      database_url: str) -> None:
    ep = stack_endpoints.aws_endpoint_url
    # An RDS rotation secret whose generated password holds every URL delimiter, a space, a quote
    # and a backslash (conninfo's own escapes)
    password = "p@ss:w/rd?#%&= 'q\\"
    arn = _secret(sm, json.dumps({"username": "app user", "password": password, "host": "db.internal",
                                  "port": 6543, "dbname": "smart course"}))
    settings = CommonSettings(database_url=None, database_secret_arn=arn, aws_endpoint_url=ep)
    parts = conninfo_to_dict(resolve_database_url(settings))
    assert parts == {"user": "app user", "password": password, "host": "db.internal", "port": "6543",
                     "dbname": "smart course"}
    # A secret holding the connection string itself (here libpq key=value pairs) is taken as it is
    arn = _secret(sm, database_url)
    settings = CommonSettings(database_url=None, database_secret_arn=arn, aws_endpoint_url=ep)
    with psycopg.connect(resolve_database_url(settings)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_jwt_and_groq_keys_come_from_secrets_in_either_layout(sm: Any, stack_endpoints: Any) -> None:
    key = "k" * 40
    ep = stack_endpoints.aws_endpoint_url
    plain, wrapped = _secret(sm, key), _secret(sm, f'{{"jwt_secret": "{key}"}}')
    for arn in (plain, wrapped):
        assert resolve_jwt_secret(AssistantSettings(jwt_secret=None, jwt_secret_arn=arn, aws_endpoint_url=ep)) == key
    short = _secret(sm, "too short")
    with pytest.raises(ConfigurationError, match="shorter than 32 bytes"):
        resolve_jwt_secret(AssistantSettings(jwt_secret=None, jwt_secret_arn=short, aws_endpoint_url=ep))

    def groq(arn: str) -> str | None:
        return resolve_groq_key(AssistantSettings(jwt_secret=key, groq_api_key=None, groq_api_key_secret_arn=arn,
                                                  aws_endpoint_url=ep))

    assert groq(_secret(sm, '{"api_key": "gsk_live"}')) == "gsk_live"
    assert groq(_secret(sm, "gsk_plain\n")) == "gsk_plain"
    assert groq(_secret(sm, '{"other": "x"}')) is None  # no key: extractive answers, not a crash


def test_a_rotated_secret_is_read_again_after_the_ttl(sm: Any, stack_endpoints: Any) -> None:
    arn = _secret(sm, "first-value")
    where = CommonSettings(aws_endpoint_url=stack_endpoints.aws_endpoint_url)
    now = [1000.0]
    assert secrets.secret_text(arn, where, clock=lambda: now[0]) == "first-value"
    sm.put_secret_value(SecretId=arn, SecretString="rotated-value")
    now[0] += secrets.TTL_S - 1
    assert secrets.secret_text(arn, where, clock=lambda: now[0]) == "first-value"  # cached
    now[0] += 2
    assert secrets.secret_text(arn, where, clock=lambda: now[0]) == "rotated-value"


def test_a_missing_setting_names_itself() -> None:
    with pytest.raises(ConfigurationError, match="DATABASE_URL"):
        resolve_database_url(CommonSettings(database_url=None, database_secret_arn=None))
    with pytest.raises(ConfigurationError, match="JWT_SECRET"):
        resolve_jwt_secret(AssistantSettings(jwt_secret=None, jwt_secret_arn=None))


def test_a_rotated_database_password_is_picked_up_by_a_warm_function(sm: Any, stack_endpoints: Any,
                                                                     database_url: str) -> None:
    """Given a warm function connected with the database secret, when the password is rotated
    (role and secret) and its connection drops, the next invocation reads the secret again and
    reconnects; a Database without the secret's source cannot."""
    import secrets as token
    import time

    from smartcourse.container import database_for
    from smartcourse.db import Database
    from smartcourse.errors import DependencyUnavailable

    admin = psycopg.connect(stack_endpoints.admin_database_url, autocommit=True)
    role, first, second = f"sc_rotation_{token.token_hex(4)}", token.token_urlsafe(16), token.token_urlsafe(16)
    hba = admin.execute("SHOW hba_file").fetchone()[0]
    socket_dir = admin.execute("SHOW unix_socket_directories").fetchone()[0].split(",")[0].strip()
    port = int(admin.execute("SHOW port").fetchone()[0])
    dbname = conninfo_to_dict(database_url)["dbname"]
    original = Path(hba).read_text()
    admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(first)))
    try:
        Path(hba).write_text(f"local all {role} scram-sha-256\n" + original)  # only this role gives a password
        admin.execute("SELECT pg_reload_conf()")
        time.sleep(0.5)

        def secret(password: str) -> str:
            return json.dumps({"username": role, "password": password, "host": socket_dir, "port": port,
                               "dbname": dbname})

        arn = _secret(sm, secret(first))
        settings = CommonSettings(database_url=None, database_secret_arn=arn,
                                  aws_endpoint_url=stack_endpoints.aws_endpoint_url)
        warm = database_for(settings, "rotation-test")
        stale = Database(resolve_database_url(settings), application_name="rotation-test")
        warm.ping()
        stale.ping()
        # the rotation: new password on the role and in the secret; the open connections drop
        admin.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(second)))
        sm.put_secret_value(SecretId=arn, SecretString=secret(second))
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))

        def invoke(db: Database) -> bool:
            for _ in range(2):  # the first call may meet the dropped connection (503, retried)
                try:
                    db.ping()
                    return True
                except DependencyUnavailable:
                    continue
            return False

        assert invoke(warm), "the warm function did not pick up the rotated password"
        assert conninfo_to_dict(warm.url)["password"] == second
        assert not invoke(stale)  # the same without re-reading the secret: locked out
        warm.close()
        stale.close()
    finally:
        Path(hba).write_text(original)
        admin.execute("SELECT pg_reload_conf()")
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        admin.close()
