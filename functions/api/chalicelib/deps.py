"""The container's dependencies, built on first use (never at import)."""

from __future__ import annotations

import functools
from typing import Any

from chalicelib.settings import ApiSettings
from smartcourse.aws import client
from smartcourse.db import Database
from smartcourse.settings import load_settings, resolve_database_url


def settings() -> ApiSettings:
    return load_settings(ApiSettings)


@functools.cache
def database() -> Database:
    s = settings()
    return Database(resolve_database_url(s), connect_timeout=s.database_connect_timeout,
                    application_name="smartcourse-api")


def s3() -> Any:
    return client("s3", settings())
