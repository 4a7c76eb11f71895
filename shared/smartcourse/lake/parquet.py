"""Parquet files of lake rows, written and merged with DuckDB (docs/decisions/0006-lake-parquet-with-duckdb.md).

DuckDB's wheel reads and writes Parquet and JSON with its built-in extensions: nothing is ever
installed or downloaded at run time (autoinstall and autoload of extensions are off), and S3 is
reached with botocore by `objects.py`, not by DuckDB. Files are zstd-compressed. Everything here works
on local paths (a Lambda's /tmp).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from smartcourse.lake.domain import COLUMNS, DEDUPE_ORDER, LakeRow

#: DuckDB settings for every connection: no extension is fetched or loaded beyond the built-in ones.
DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False, "autoload_known_extensions": False, "threads": 2}


def connect(temp_dir: str | Path | None = None) -> Any:
    """An in-memory DuckDB connection with the lake's settings (spills to `temp_dir` if given)."""
    import duckdb

    config: dict[str, str | bool | int | float | list[str]] = dict(DUCKDB_CONFIG)
    if temp_dir is not None:
        config["temp_directory"] = str(temp_dir)
    return duckdb.connect(":memory:", config=config)


def _quote(path: str | Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _table_ddl(name: str) -> str:
    return f"CREATE TABLE {name} (" + ", ".join(f"{c} {t}" for c, t in COLUMNS) + ")"


def write_rows(rows: list[LakeRow], path: Path, temp_dir: str | Path | None = None) -> int:
    """Write `rows` (one lake partition's) to one Parquet file; the number of rows written. The rows
    go through a newline-delimited JSON file read with the columns' types (DuckDB's executemany
    inserts row by row: 1.1-2.8 s for 1,000 rows, against tens of ms this way)."""
    names = [c for c, _ in COLUMNS]
    staging = path.with_suffix(".ndjson")
    with staging.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(dict(zip(names, r.values(), strict=True)), default=_iso) + "\n")
    types = "{" + ", ".join(f"'{c}': '{t}'" for c, t in COLUMNS) + "}"
    con = connect(temp_dir)
    try:
        con.execute(f"COPY (SELECT {', '.join(names)} FROM read_json({_quote(staging)}, format = 'newline_delimited', "
                    f"columns = {types}, timestampformat = '%Y-%m-%dT%H:%M:%S.%f') ORDER BY occurred_at, id) "
                    f"TO {_quote(path)} (FORMAT parquet, COMPRESSION zstd)")
    finally:
        con.close()
        staging.unlink(missing_ok=True)
    return len(rows)


def _iso(value: object) -> str:
    """Times as ISO text with microseconds (the staging file's timestampformat)."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")
    raise TypeError(f"not JSON: {type(value).__name__}")


def _file_list(paths: list[Path]) -> str:
    return "[" + ", ".join(_quote(p) for p in paths) + "]"


def merge(paths: list[Path], out: Path, temp_dir: str | Path | None = None) -> tuple[int, int]:
    """Merge Parquet files of one partition into `out`, one row per event id (the copy the view
    keeps: DEDUPE_ORDER). Returns (rows read, rows written)."""
    columns = ", ".join(c for c, _ in COLUMNS)
    source = f"read_parquet({_file_list(paths)}, union_by_name = true)"
    con = connect(temp_dir)
    try:
        row = con.execute(f"SELECT count(*) FROM {source}").fetchone()
        read = int(row[0]) if row else 0
        con.execute(
            f"COPY (SELECT {columns} FROM (SELECT {columns}, row_number() OVER (PARTITION BY id ORDER BY "
            f"{DEDUPE_ORDER}) AS copy_number FROM {source}) WHERE copy_number = 1 ORDER BY occurred_at, id) "
            f"TO {_quote(out)} (FORMAT parquet, COMPRESSION zstd)")
        row = con.execute(f"SELECT count(*) FROM read_parquet({_quote(out)})").fetchone()
        written = int(row[0]) if row else 0
    finally:
        con.close()
    return read, written


def read_rows(paths: list[Path]) -> list[dict[str, Any]]:
    """Every row of the files, as dicts (tests, tools)."""
    con = connect()
    try:
        cur = con.execute(f"SELECT * FROM read_parquet({_file_list(paths)}, union_by_name = true)")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def lake_connection(root: Path, temp_dir: str | Path | None = None) -> Any:
    """DuckDB over a local copy of the lake (`root`/events/dt=.../type=.../*.parquet): the view
    `event_files` (the files as written, `dt` and `type` from the path, as Glue's partition keys)
    and the view `events` (one row per event id: `domain.events_view_sql`, the SQL Athena runs)."""
    from smartcourse.lake.domain import EVENTS_PREFIX, EVENTS_VIEW, FILES_TABLE, events_view_sql

    con = connect(temp_dir)
    files = sorted((root / EVENTS_PREFIX).glob("dt=*/type=*/*.parquet"))
    if files:
        con.execute(f"CREATE VIEW {FILES_TABLE} AS SELECT * FROM read_parquet({_file_list(files)}, "
                    "hive_partitioning = true, hive_types = {'dt': VARCHAR, 'type': VARCHAR}, union_by_name = true)")
    else:  # an empty lake still answers (no rows)
        con.execute(_table_ddl(FILES_TABLE)[:-1] + ", dt VARCHAR, type VARCHAR)")
    con.execute(f"CREATE VIEW {EVENTS_VIEW} AS {events_view_sql()}")
    # Athena's (Trino's) name for reading one JSON value as text, so a query runs in both unchanged
    con.execute("CREATE MACRO json_extract_scalar(doc, path) AS json_extract_string(doc, path)")
    return con
