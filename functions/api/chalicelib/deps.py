"""The container's dependencies: one `Wiring` built on first use (never at import), reset by
`smartcourse.container.reset_all()`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chalicelib.settings import ApiSettings
from smartcourse.accounts.domain import SignInLimits
from smartcourse.accounts.service import AccountsConfig
from smartcourse.auth import resolve_jwt_secret
from smartcourse.aws import client
from smartcourse.container import Container, container, database_for
from smartcourse.db import Database
from smartcourse.lms.objects import S3Storage
from smartcourse.lms.service import LmsConfig
from smartcourse.settings import load_settings


@dataclass(frozen=True)
class Wiring:
    settings: ApiSettings
    database: Database
    config: LmsConfig
    accounts: AccountsConfig
    #: importing botocore and making a client costs about 130 ms (docs/architecture.md): built on the first
    #: request that uses S3
    s3: Container[Any]
    storage: Container[S3Storage]


@container
def wiring() -> Wiring:
    """Built on the first request that needs more than the settings."""
    s = settings()
    s3 = Container(lambda: client("s3", s))
    secret = resolve_jwt_secret(s)
    return Wiring(
        settings=s,
        database=database_for(s, "smartcourse-api"),
        config=LmsConfig(jwt_secret=secret, max_asset_bytes=s.max_asset_bytes),
        accounts=AccountsConfig(jwt_secret=secret, access_ttl_s=s.jwt_ttl_s,
                                session_ttl=timedelta(days=s.session_ttl_days),
                                refresh_idle=timedelta(days=s.refresh_idle_days),
                                limits=SignInLimits(address_failures=s.sign_in_address_failures)),
        s3=s3,
        storage=Container(lambda: S3Storage(s3(), s.assets_bucket, upload_ttl_s=s.upload_url_ttl_s,
                                            download_ttl_s=s.download_url_ttl_s)),
    )


def settings() -> ApiSettings:
    """The settings alone (CORS headers of an error response need them, not the wiring)."""
    return load_settings(ApiSettings)


def database() -> Database:
    return wiring().database


def s3() -> Any:
    return wiring().s3()


def config() -> LmsConfig:
    return wiring().config


def accounts_config() -> AccountsConfig:
    return wiring().accounts


def storage() -> S3Storage:
    return wiring().storage()
