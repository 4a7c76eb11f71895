"""The settings the API function needs to load in-process (nothing is reached: the database URL
points nowhere), with the web client's origin allowed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smartcourse.settings import load_settings

WEB = "http://127.0.0.1:8080"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for k, v in {"CORS_ALLOW_ORIGIN": WEB, "JWT_SECRET": "j" * 40, "ASSETS_BUCKET": "a", "CERTIFICATES_BUCKET": "c",
                 "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "STAGE": "qa"}.items():
        monkeypatch.setenv(k, v)
    load_settings.cache_clear()
    yield
    load_settings.cache_clear()
