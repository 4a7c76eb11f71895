"""`make analytics-sql Q="..."`: SQL over the local event lake with DuckDB (docs/lake.md).

Syncs the lake bucket's Parquet files (events/...) from the local S3 (moto) into a cache folder
(downloads what is new or changed, removes what compaction deleted), then runs the SQL over the
view `events` (one row per event id, the same SQL as the Athena view) and `event_files` (the files
as written). The bucket is the template's LakeBucket for the stage (DEVSTACK_STAGE or `local`, as
`make run` uses).

    python -m devstack.lake_sql "SELECT type, count(*) FROM events GROUP BY 1 ORDER BY 1"
    python -m devstack.lake_sql --stage t1a2b3c4 --format csv "SELECT * FROM events LIMIT 5"
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

from devstack.stack import DATA_DIR, aws_clients, running_stack
from smartcourse.lake.domain import EVENTS_PREFIX

CACHE = DATA_DIR / "lake-cache"
MANIFEST = ".manifest.json"


def lake_bucket(stage: str) -> str:
    from devstack import template as tpl

    return tpl.load(parameter_overrides={"Stage": stage}).buckets["LakeBucket"]


def sync(s3: Any, bucket: str, root: Path) -> dict[str, int]:
    """Make `root` a copy of the bucket's events/ (by ETag); returns what was done."""
    root.mkdir(parents=True, exist_ok=True)
    manifest_path = root / MANIFEST
    manifest: dict[str, str] = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    remote: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=EVENTS_PREFIX):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".parquet"):
                remote[obj["Key"]] = obj["ETag"]
    downloaded = removed = 0
    for key, etag in remote.items():
        path = root / key
        if manifest.get(key) != etag or not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(path))
            downloaded += 1
    for key in set(manifest) - set(remote):
        (root / key).unlink(missing_ok=True)
        removed += 1
    for path in (root / EVENTS_PREFIX).glob("dt=*/type=*/*.parquet") if (root / EVENTS_PREFIX).exists() else []:
        if str(path.relative_to(root)) not in remote:  # left by an interrupted earlier sync
            path.unlink()
    manifest_path.write_text(json.dumps(remote, sort_keys=True))
    return {"files": len(remote), "downloaded": downloaded, "removed": removed}


def query(sql: str, root: Path) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of `sql` over the local copy at `root`."""
    from smartcourse.lake.parquet import lake_connection

    con = lake_connection(root)
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description] if cur.description else []
        return names, cur.fetchall() if names else []
    finally:
        con.close()


def _table(names: list[str], rows: list[tuple[Any, ...]]) -> str:
    cells = [names, *[["NULL" if v is None else str(v) for v in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(names))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.lake_sql", description=__doc__.split("\n\n")[0])
    parser.add_argument("sql", help="the SQL, over the views `events` (one row per event) and `event_files`")
    parser.add_argument("--stage", default=os.environ.get("DEVSTACK_STAGE", "local"))
    parser.add_argument("--bucket", help="the lake bucket (default: the template's LakeBucket for the stage)")
    parser.add_argument("--cache-dir", type=Path, help=f"where the files are copied (default {CACHE}/<bucket>)")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.add_argument("--no-sync", action="store_true", help="query the cached copy as it is")
    args = parser.parse_args(argv)
    bucket = args.bucket or lake_bucket(args.stage)
    root = args.cache_dir or CACHE / bucket
    if not args.no_sync:
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or getattr(running_stack(), "aws_endpoint_url", None)
        if not endpoint:
            print("analytics-sql: no local stack is running (make run / make stack), and AWS_ENDPOINT_URL is not set",
                  file=sys.stderr)
            return 2
        s3, _ = aws_clients(endpoint)
        try:
            done = sync(s3, bucket, root)
        except s3.exceptions.NoSuchBucket:
            print(f"analytics-sql: no bucket {bucket} at {endpoint} (is the stage {args.stage!r} provisioned?)",
                  file=sys.stderr)
            return 2
        print(f"-- s3://{bucket}/{EVENTS_PREFIX}: {done['files']} file(s), {done['downloaded']} downloaded, "
              f"{done['removed']} removed; cache {root}", file=sys.stderr)
    import duckdb

    try:
        names, rows = query(args.sql, root)
    except duckdb.Error as exc:
        print(f"analytics-sql: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps([dict(zip(names, r, strict=True)) for r in rows], default=str, indent=1))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(names)
        writer.writerows(rows)
    elif names:
        print(_table(names, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
