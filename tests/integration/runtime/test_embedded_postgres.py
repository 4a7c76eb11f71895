"""The embedded PostgreSQL runs with the stack's server settings (devstack.postgres.SERVER_SETTINGS),
from its very first start in a new data folder."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from devstack.postgres import SERVER_SETTINGS, EmbeddedPostgres

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def test_a_new_data_folder_starts_with_the_server_settings() -> None:
    (ROOT / ".data").mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="pg-settings-", dir=ROOT / ".data"))
    pg = EmbeddedPostgres(folder / "postgres")
    try:
        url = pg.start()
        with psycopg.connect(url) as conn:
            for name, value in SERVER_SETTINGS.items():
                assert conn.execute("SELECT current_setting(%s)", (name,)).fetchone() == (value,)
            assert conn.execute("SELECT current_setting('shared_buffers')").fetchone() != ("128MB",)  # the default
        pg.stop()
        # a second start keeps them
        url = pg.start()
        with psycopg.connect(url) as conn:
            buffers = conn.execute("SELECT current_setting('shared_buffers')").fetchone()
        assert buffers == (SERVER_SETTINGS["shared_buffers"],)
    finally:
        pg.stop()
        shutil.rmtree(folder, ignore_errors=True)
