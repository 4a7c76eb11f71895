"""Migrations: applied by one command, idempotent, and strict about drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from devstack.postgres import drop_database, ensure_database
from smartcourse import migrate

pytestmark = pytest.mark.integration


def test_migrations_apply_once_and_then_report_nothing_to_do(stack_endpoints: Any, stage: str) -> None:
    name = f"sc_{stage}_mig"
    ensure_database(stack_endpoints.admin_database_url, name)
    url = stack_endpoints.database_url(name)
    try:
        first = migrate.apply(url)
        assert first == [m.version for m in migrate.discover()]
        assert migrate.apply(url) == []
        with psycopg.connect(url) as conn:
            ext = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
            assert ext is not None
            schemas = {r[0] for r in conn.execute("SELECT schema_name FROM information_schema.schemata")}
            assert {"lms", "ai"} <= schemas
    finally:
        drop_database(stack_endpoints.admin_database_url, name)


def test_an_edited_applied_migration_and_an_unknown_newer_one_are_refused(
        stack_endpoints: Any, stage: str, tmp_path: Path) -> None:
    name = f"sc_{stage}_drift"
    ensure_database(stack_endpoints.admin_database_url, name)
    url = stack_endpoints.database_url(name)
    try:
        (tmp_path / "0001_first.sql").write_text("CREATE TABLE t1 (id int);")
        assert migrate.apply(url, tmp_path) == [1]
        (tmp_path / "0001_first.sql").write_text("CREATE TABLE t1 (id bigint);")
        with pytest.raises(migrate.MigrationError, match="changed after it was applied"):
            migrate.apply(url, tmp_path)
        (tmp_path / "0001_first.sql").write_text("CREATE TABLE t1 (id int);")
        (tmp_path / "0002_second.sql").write_text("CREATE TABLE t2 (id int);")
        assert migrate.apply(url, tmp_path) == [2]
        (tmp_path / "0002_second.sql").unlink()
        with pytest.raises(migrate.MigrationError, match="newer version"):
            migrate.apply(url, tmp_path)
    finally:
        drop_database(stack_endpoints.admin_database_url, name)


def test_a_failing_migration_leaves_nothing_half_applied(stack_endpoints: Any, stage: str, tmp_path: Path) -> None:
    name = f"sc_{stage}_fail"
    ensure_database(stack_endpoints.admin_database_url, name)
    url = stack_endpoints.database_url(name)
    try:
        (tmp_path / "0001_ok.sql").write_text("CREATE TABLE ok (id int);")
        (tmp_path / "0002_broken.sql").write_text("CREATE TABLE half (id int); SELECT no_such_function();")
        with pytest.raises(psycopg.Error):
            migrate.apply(url, tmp_path)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('public.ok')").fetchone() == ("ok",)
            assert conn.execute("SELECT to_regclass('public.half')").fetchone() == (None,)
            versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
            assert versions == [1]
    finally:
        drop_database(stack_endpoints.admin_database_url, name)
