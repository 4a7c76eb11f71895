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
