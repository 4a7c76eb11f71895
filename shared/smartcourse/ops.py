"""Operations CLI for the event backbone.

    python -m smartcourse.ops parked [--limit N]
    python -m smartcourse.ops republish (--all | --id UUID ...)       # un-park: the relay sends them again
    python -m smartcourse.ops skip --id UUID ... --reason TEXT         # give up on parked rows; unblocks the aggregate
    python -m smartcourse.ops replay (--type T | --aggregate TYPE:ID) [--since ISO] [--limit N] [--dry-run]
    python -m smartcourse.ops status

Configuration comes from the environment like the relay's (DATABASE_URL or DATABASE_SECRET_ARN,
KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM, TOPIC_PREFIX).
Replay re-sends already published events (from lms.outbox and lms.outbox_archive) to their topic,
in seq order, with the original key and headers plus `replay: 1`; consumers dedupe by event id, so
only a consumer whose processed_events row was removed (or a new consumer) acts on them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from smartcourse.container import database_for
from smartcourse.db import Database
from smartcourse.relay import OutboxRow, RelaySettings, build_message
from smartcourse.settings import load_settings

_PUBLISHED_UNION = """
SELECT seq, id, event_type, aggregate_type, aggregate_id, correlation_id, payload::text AS payload, 0 AS attempts,
       traceparent
FROM (SELECT seq, id, event_type, aggregate_type, aggregate_id, correlation_id, payload, created_at, traceparent
      FROM lms.outbox WHERE published_at IS NOT NULL
      UNION ALL
      SELECT seq, id, event_type, aggregate_type, aggregate_id, correlation_id, payload, created_at, traceparent
      FROM lms.outbox_archive) e
WHERE ({where}) AND created_at >= %s
ORDER BY seq
LIMIT %s
"""


def _database(settings: RelaySettings) -> Database:
    return database_for(settings, "smartcourse-ops")


def list_parked(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT seq, id::text, event_type, aggregate_type, aggregate_id, attempts, parked_at, park_reason, "
            "(SELECT count(*) FROM lms.outbox w WHERE w.aggregate_type = o.aggregate_type "
            " AND w.aggregate_id = o.aggregate_id AND w.published_at IS NULL AND w.seq > o.seq) AS waiting_behind "
            "FROM lms.outbox o WHERE parked_at IS NOT NULL AND published_at IS NULL ORDER BY seq LIMIT %s",
            (limit,)).fetchall()
    return [dict(r) for r in rows]


def republish(db: Database, ids: Sequence[str] | None) -> int:
    """Clear parked state and attempts: the relay picks the rows up on its next pass."""
    sql = ("UPDATE lms.outbox SET parked_at = NULL, park_reason = NULL, attempts = 0, last_error = NULL, "
           "next_attempt_at = now() WHERE published_at IS NULL AND parked_at IS NOT NULL")
    with db.transaction() as conn:
        if ids is None:
            return conn.execute(sql).rowcount
        return conn.execute(sql + " AND id = ANY(%s::uuid[])", (list(ids),)).rowcount


def skip(db: Database, ids: Sequence[str], reason: str) -> int:
    """Give up on parked rows: marked published without sending (kept for audit), so the rows
    waiting behind them go on."""
    with db.transaction() as conn:
        return conn.execute(
            "UPDATE lms.outbox SET published_at = now(), last_error = %s "
            "WHERE parked_at IS NOT NULL AND published_at IS NULL AND id = ANY(%s::uuid[])",
            (f"skipped by operator: {reason}", list(ids))).rowcount


def replay(db: Database, settings: RelaySettings, *, event_type: str | None = None,
           aggregate: tuple[str, str] | None = None, since: datetime | None = None, limit: int = 100_000,
           dry_run: bool = False, producer: Any = None) -> int:
    if (event_type is None) == (aggregate is None):
        raise ValueError("give exactly one of --type or --aggregate")
    if event_type is not None:
        where, params = "event_type = %s", [event_type]
    else:
        assert aggregate is not None
        where, params = "aggregate_type = %s AND aggregate_id = %s", list(aggregate)
    with db.transaction() as conn:
        rows = conn.execute(_PUBLISHED_UNION.format(where=where),
                            (*params, since or datetime(1970, 1, 1), limit)).fetchall()
    if dry_run or not rows:
        return len(rows)
    if producer is None:
        from smartcourse.kafka_client import new_producer

        producer = new_producer(settings, max_request_size=settings.kafka_max_message_bytes)
    futures = []
    for r in rows:
        msg = build_message(OutboxRow(**{k: r[k] for k in ("seq", "id", "event_type", "aggregate_type",
                                                          "aggregate_id", "correlation_id", "payload",
                                                          "attempts", "traceparent")}), settings.topic_prefix)
        futures.append(producer.send(msg.topic, value=msg.value, key=msg.key, headers=[*msg.headers, ("replay", b"1")]))
    producer.flush(60)
    for f in futures:
        f.get(timeout=1)  # raises if any send failed
    producer.close(5)
    return len(rows)


def status(db: Database) -> dict[str, Any]:
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE published_at IS NULL AND parked_at IS NULL) AS pending, "
            "count(*) FILTER (WHERE published_at IS NULL AND parked_at IS NOT NULL) AS parked, "
            "count(*) FILTER (WHERE published_at IS NULL AND attempts > 0) AS retrying, "
            "extract(epoch FROM now() - min(created_at) FILTER (WHERE published_at IS NULL AND parked_at IS NULL))"
            "::float8 AS oldest_pending_age_s FROM lms.outbox").fetchone()
    return dict(row or {})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smartcourse.ops", description="Outbox / event backbone ops")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parked", help="list parked outbox rows")
    p.add_argument("--limit", type=int, default=100)
    p = sub.add_parser("republish", help="un-park rows so the relay sends them again")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--all", action="store_true")
    g.add_argument("--id", nargs="+")
    p = sub.add_parser("skip", help="give up on parked rows (unblocks their aggregate)")
    p.add_argument("--id", nargs="+", required=True)
    p.add_argument("--reason", required=True)
    p = sub.add_parser("replay", help="re-send published events to their topic")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--type", dest="event_type", help="e.g. smartcourse.course.published.v1")
    g.add_argument("--aggregate", help="TYPE:ID, e.g. course:6f1c...")
    p.add_argument("--since", type=datetime.fromisoformat)
    p.add_argument("--limit", type=int, default=100_000)
    p.add_argument("--dry-run", action="store_true")
    sub.add_parser("status", help="pending / parked / retrying counts and the oldest pending age")
    args = parser.parse_args(argv)

    settings = load_settings(RelaySettings)
    db = _database(settings)
    out: Any
    if args.command == "parked":
        out = list_parked(db, args.limit)
    elif args.command == "republish":
        out = {"republished": republish(db, None if args.all else args.id)}
    elif args.command == "skip":
        out = {"skipped": skip(db, args.id, args.reason)}
    elif args.command == "replay":
        aggregate = None
        if args.aggregate:
            agg_type, sep, agg_id = args.aggregate.partition(":")
            if not sep or not agg_id:
                parser.error("--aggregate must be TYPE:ID")
            aggregate = (agg_type, agg_id)
        n = replay(db, settings, event_type=args.event_type, aggregate=aggregate, since=args.since,
                   limit=args.limit, dry_run=args.dry_run)
        out = {"would_replay" if args.dry_run else "replayed": n}
    else:
        out = status(db)
    json.dump(out, sys.stdout, default=str, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
