"""Validated settings: one pydantic-settings model per function.

Models are read on the first invocation through `load_settings`, never at import time, so a
cold start that cannot read its configuration fails with one line naming the setting.
"""

from __future__ import annotations

import functools
from typing import Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcourse.errors import ConfigurationError

S = TypeVar("S", bound=BaseSettings)


class CommonSettings(BaseSettings):
    """Settings every function shares. Environment variable names are the upper-case field names."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    stage: str = Field(default="local", pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")
    aws_region: str = Field(default="us-east-1", min_length=1)
    # Local / LocalStack endpoint (moto server on 127.0.0.1:4566). Unset in AWS.
    aws_endpoint_url: str | None = None
    # Either a URL (local, tests) or a Secrets Manager secret holding one (AWS).
    database_url: str | None = None
    database_secret_arn: str | None = None
    database_connect_timeout: int = Field(default=5, ge=1, le=60)
    # The RDS Proxy's endpoint (template parameters DatabaseProxyClusterId / DatabaseProxyInstanceId):
    # replaces the host of the database URL, with TLS required and no prepared statements.
    database_proxy_host: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]{1,253}$")
    # The web app's origin allowed by CORS on HTTP responses ("*" = any; template parameter WebOrigin).
    cors_allow_origin: str = Field(default="*", pattern=r"^(\*|https?://[A-Za-z0-9.-]+(:[0-9]+)?)$")


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", min_length=3)
    # PLAINTEXT locally; SASL_SSL with AWS_MSK_IAM against MSK.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["AWS_MSK_IAM", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    topic_prefix: str = Field(default="smartcourse", pattern=r"^[A-Za-z0-9._-]{1,60}$")


def _describe(error: ValidationError, model: type[BaseSettings]) -> str:
    first = error.errors()[0]
    name = ".".join(str(p) for p in first["loc"]) or "?"
    return f"setting {name.upper()} for {model.__name__}: {first['msg']}"


@functools.cache
def load_settings(model: type[S]) -> S:
    """Read and validate `model` from the environment once per process."""
    try:
        return model()
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc, model)) from None


def resolve_database_url(settings: CommonSettings) -> str:
    """DATABASE_URL (local, tests), or the Secrets Manager secret DATABASE_SECRET_ARN (AWS)."""
    from smartcourse import secrets  # local import: only AWS deployments read Secrets Manager

    url = secrets.resolve(settings.database_url, settings.database_secret_arn, settings, setting="DATABASE_URL",
                          arn_setting="DATABASE_SECRET_ARN", parse=secrets.database_url_from_secret)
    assert url is not None  # required: resolve raised otherwise
    return through_proxy(url, settings.database_proxy_host) if settings.database_proxy_host else url


def through_proxy(url: str, proxy_host: str) -> str:
    """`url` (a URI or key=value conninfo) with its host replaced by the RDS Proxy's endpoint and TLS
    required (the proxy is deployed with RequireTLS); user, password, port and database kept."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params.pop("hostaddr", None)
    return make_conninfo("", **{**params, "host": proxy_host, "sslmode": "require"})
