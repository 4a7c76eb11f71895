"""Secrets: a value from the environment locally, or a Secrets Manager secret in AWS.

Every secret a function needs (the database URL, the JWT signing key, the Groq API key) is one
pair of settings: ``X`` (the value: local runs, tests) or ``X_SECRET_ARN`` / ``X_ARN`` (AWS). One
rule reads them all (`resolve`): the value when set, else the secret, else a `ConfigurationError`
naming the setting (or None for an optional secret). A secret's text is either the value itself or
a JSON object holding it under one of a few known keys.

Secrets Manager is read through one cache per process with a time to live (`TTL_S`), so a rotated
secret reaches a warm container within minutes instead of never; the value in use stays valid
during a rotation (AWSPREVIOUS), so nothing fails in between.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from smartcourse.aws import AwsLocation, client
from smartcourse.errors import ConfigurationError

__all__ = ["TTL_S", "database_url_from_secret", "forget", "resolve", "secret_text"]

#: Seconds a secret read from Secrets Manager is reused before it is read again.
TTL_S = 300.0

_lock = threading.Lock()
_cache: dict[tuple[str, str, str | None], tuple[float, str]] = {}


def secret_text(arn: str, where: AwsLocation, *, ttl_s: float = TTL_S,
                clock: Callable[[], float] = time.monotonic) -> str:
    """The SecretString of `arn`, read at most once per `ttl_s` per process."""
    key = (arn, where.aws_region, where.aws_endpoint_url)
    now = clock()
    with _lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < ttl_s:
            return hit[1]
    raw = str(client("secretsmanager", where).get_secret_value(SecretId=arn)["SecretString"])
    with _lock:
        _cache[key] = (now, raw)
    return raw


def forget(arn: str | None = None) -> None:
    """Drop the cached secret `arn` (a function that found it rotated), or every one (tests)."""
    with _lock:
        for key in [k for k in _cache if arn is None or k[0] == arn]:
            del _cache[key]


def _field(raw: str, json_keys: Sequence[str]) -> str:
    text = raw.strip()
    if not text.startswith("{"):
        return text
    try:
        data: Any = json.loads(text)
    except ValueError:
        return text
    if not isinstance(data, dict):
        return text
    for k in json_keys:
        value = data.get(k)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def resolve(value: str | None, arn: str | None, where: AwsLocation, *, setting: str, arn_setting: str,
            json_keys: Sequence[str] = (), parse: Callable[[str], str] | None = None,
            required: bool = True) -> str | None:
    """`value` if set; else the secret `arn`: `parse(text)` when given, else its text or the first of
    `json_keys` present in its JSON; else None, or a ConfigurationError naming both settings
    (`setting`, `arn_setting`) when `required`."""
    if value:
        return value
    if not arn:
        if required:
            raise ConfigurationError(f"setting {setting} (or {arn_setting}) is required")
        return None
    raw = secret_text(arn, where)
    found = parse(raw) if parse is not None else _field(raw, json_keys)
    if not found and required:
        raise ConfigurationError(f"the secret {arn} for {setting} holds no value (keys tried: "
                                 f"{', '.join(json_keys) or 'the text itself'})")
    return found or None


def database_url_from_secret(raw: str) -> str:
    """A PostgreSQL connection string from a secret: the string itself (a ``postgresql://`` URL
    or libpq ``key=value`` pairs), ``{"url": ...}``, or the RDS rotation layout (username,
    password, host, port, dbname), turned into a conninfo string by the driver's own
    `psycopg.conninfo.make_conninfo` (never by string formatting: a generated password holding
    ``@``, ``#``, ``?``, ``/``, ``:``, quotes or spaces stays one value)."""
    text = raw.strip()
    if not text.startswith("{"):
        return text
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigurationError("the database secret starts with '{' but is not valid JSON") from None
    if not isinstance(data, dict):
        raise ConfigurationError("the database secret's JSON is not an object")
    if isinstance(data.get("url"), str):
        return str(data["url"])
    missing = [k for k in ("username", "password", "host") if not data.get(k)]
    if missing:
        raise ConfigurationError(f"the database secret lacks {', '.join(missing)}")
    from psycopg.conninfo import make_conninfo

    return make_conninfo(user=str(data["username"]), password=str(data["password"]), host=str(data["host"]),
                         port=str(int(data.get("port") or 5432)), dbname=str(data.get("dbname") or "smartcourse"))
