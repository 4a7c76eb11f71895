"""Versioned SQL migrations, applied by one command: `python -m smartcourse.migrate`.

Files are `migrations/NNNN_name.sql`, applied in order, each in its own transaction, recorded
with a checksum in `public.schema_migrations`. An applied file that changed is an error; a
database newer than the code (a version this checkout does not have) is reported clearly.
A session-level advisory lock makes concurrent runs safe.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x5C0C0_0001


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = DEFAULT_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"migration file name {path.name!r} is not NNNN_name.sql")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"two migrations share version {version:04d}")
        found[version] = Migration(version, m.group(2), path.read_text())
    return [found[v] for v in sorted(found)]


def apply(url: str, directory: Path = DEFAULT_DIR, *, verbose: bool = False) -> list[int]:
    """Apply pending migrations; returns the versions applied now."""
    migrations = discover(directory)
    applied_now: list[int] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS public.schema_migrations (
                       version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            rows = conn.execute("SELECT version, name, checksum FROM public.schema_migrations").fetchall()
            done = {int(r[0]): (r[1], r[2]) for r in rows}
            known = {m.version for m in migrations}
            newer = sorted(v for v in done if v not in known)
            if newer:
                raise MigrationError(
                    f"the database has migration(s) {newer} that this checkout does not know: "
                    "it was migrated by a newer version; update the code or use a fresh data folder"
                )
            for m in migrations:
                if m.version in done:
                    if done[m.version][1] != m.checksum:
                        raise MigrationError(
                            f"migration {m.version:04d}_{m.name} changed after it was applied; "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                with conn.transaction():
                    conn.execute(m.sql)  # type: ignore[arg-type]  # trusted file from the repo
                    conn.execute(
                        "INSERT INTO public.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
                applied_now.append(m.version)
                if verbose:
                    print(f"applied {m.version:04d}_{m.name}")
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Apply SmartCourse SQL migrations")
    parser.add_argument("--database-url", help="defaults to $DATABASE_URL")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    import os

    url = args.database_url or os.environ.get("DATABASE_URL")
    if not url:
        print("migrate: setting DATABASE_URL is required", file=sys.stderr)
        return 2
    try:
        done = apply(url, args.dir, verbose=True)
    except (MigrationError, psycopg.Error) as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    print(f"migrate: {len(done)} applied, database is at the latest version")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
