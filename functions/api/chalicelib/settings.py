from __future__ import annotations

from smartcourse.settings import CommonSettings, KafkaSettings


class ApiSettings(CommonSettings, KafkaSettings):
    assets_bucket: str
    certificates_bucket: str
