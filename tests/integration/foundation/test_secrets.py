"""Secrets from Secrets Manager (moto server on the stack's endpoint, as LocalStack or AWS would
serve them): the database URL, the JWT signing key and the Groq key each resolve from a secret,
a password with URL delimiters survives, and a rotated secret is seen after the cache's TTL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import psycopg
import pytest
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
    # An RDS rotation secret whose generated password holds every URL delimiter
    password = "p@ss:w/rd?#%&="
    arn = _secret(sm, f'{{"username": "app user", "password": "{password}", "host": "db.internal", '
                      f'"port": 6543, "dbname": "smart course"}}')
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
