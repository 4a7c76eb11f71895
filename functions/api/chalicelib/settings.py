from __future__ import annotations

from pydantic import Field

from smartcourse.auth import JwtSettings
from smartcourse.settings import CommonSettings, KafkaSettings


class ApiSettings(CommonSettings, KafkaSettings, JwtSettings):
    assets_bucket: str
    certificates_bucket: str
    max_asset_bytes: int = Field(default=50 * 1024 * 1024, ge=1, le=5 * 1024**3)
    upload_url_ttl_s: int = Field(default=900, ge=60, le=7 * 86400)
    download_url_ttl_s: int = Field(default=300, ge=30, le=86400)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=10 * 1024 * 1024)
    #: a session (sign-in) ends this long after it began, however often it is refreshed
    session_ttl_days: int = Field(default=30, ge=1, le=90)
    #: a refresh token unused for this long is refused (the user signs in again)
    refresh_idle_days: int = Field(default=14, ge=1, le=30)
    #: failed sign-ins per client address in 15 minutes before that address must wait
    #: (`smartcourse.accounts.domain.SignInLimits`; the test suite raises it: every request of it
    #: comes from 127.0.0.1)
    sign_in_address_failures: int = Field(default=50, ge=5, le=1_000_000)
