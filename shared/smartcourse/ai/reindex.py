"""Re-index course assets, e.g. after a change of embedding model.

    python -m smartcourse.ai.reindex --course COURSE_ID [--course ...]
    python -m smartcourse.ai.reindex --all

For each course: every asset object it has (the LMS's current assets, the objects the index
knows, the live version's list) is ingested with the current model unless it already is (same
object, same model: no work); then, if the course has a live version, that version's chunk
sets are switched to the current model's in one transaction, as a publish does. Old chunk
sets stay beside the new ones until their asset is purged. Prints a progress bar (stderr) and a
summary; exits 1 if any object could not be processed because a dependency was unavailable
(run it again: finished objects are not redone).

Reads the same settings as IngestFunction (DATABASE_URL, ASSETS_BUCKET, AWS_ENDPOINT_URL, ...).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from smartcourse.ai import repository
from smartcourse.ai.assets import AssetKey, InvalidAssetKey, PublishedAsset, parse_asset_key
from smartcourse.ai.bootstrap import build_service, new_database
from smartcourse.ai.ingestion import IngestionService, IngestSettings
from smartcourse.db import Database
from smartcourse.errors import DependencyUnavailable
from smartcourse.readonly import lms_facts
from smartcourse.settings import load_settings


@dataclass
class Summary:
    courses: int = 0
    objects: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    chunks: int = 0
    switched: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self, model_version: str) -> list[str]:
        o = self.outcomes
        return [
            f"reindex with {model_version}: {self.courses} course(s), {self.objects} object(s) in {self.seconds:.1f} s",
            f"  indexed {o['indexed']} ({self.chunks} chunks), reused {o['reused'] + o['copied']}, "
            f"unchanged {o['duplicate']}, failed {o['rejected'] + o['failed']}, skipped {o['skipped']}, "
            f"errors {len(self.errors)}",
            f"  live versions switched: {self.switched}",
            *(f"  error: {e}" for e in self.errors[:20]),
        ]


def _progress(items: Sequence[Any], stream: TextIO) -> Iterator[Any]:
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is a nicety: plain counts without it
        for i, item in enumerate(items, start=1):
            print(f"[{i}/{len(items)}]", file=stream, flush=True)
            yield item
        return
    yield from tqdm(items, desc="reindex", unit="object", file=stream, dynamic_ncols=True)


def _keys(conn: Any, course_id: uuid.UUID) -> list[AssetKey]:
    seen: dict[str, AssetKey] = {}
    candidates: list[str] = [a.s3_key for a in lms_facts.course_assets(conn, course_id)]
    candidates += [key for _, _, key in repository.current_objects(conn, course_id)]
    live = repository.live_version(conn, course_id)
    if live is not None:
        candidates += [str(a.get("s3_key", "")) for a in live.assets]
    for key in candidates:
        try:
            parsed = parse_asset_key(key)
        except InvalidAssetKey:
            continue
        if parsed.course_id == course_id and not repository.is_asset_deleted(conn, parsed.asset_id):
            seen.setdefault(key, parsed)
    return list(seen.values())


def all_courses(conn: Any) -> list[uuid.UUID]:
    ids = set(repository.live_courses(conn)) | set(lms_facts.course_ids_with_assets(conn))
    ids |= {course for course, _, _ in repository.current_objects(conn)}
    return sorted(ids, key=str)


def reindex(service: IngestionService, switch_db: Database, courses: Iterable[uuid.UUID], *,
            stream: TextIO = sys.stderr) -> Summary:
    started = time.perf_counter()
    summary = Summary()
    with service.database.transaction() as conn:
        work = [(course, key) for course in courses for key in _keys(conn, course)]
        summary.courses = len({c for c, _ in work})
    summary.objects = len(work)
    for _, key in _progress(work, stream):
        try:
            outcome = service.ingest_object(key, source="reindex")
        except DependencyUnavailable as exc:
            summary.errors.append(f"{key.key}: {exc}")
            continue
        summary.outcomes[outcome.work] += 1
        if outcome.work == "indexed":
            summary.chunks += outcome.chunks
    for course in sorted({c for c, _ in work}, key=str):
        with switch_db.transaction() as conn:
            live = repository.live_version(conn, course)
            if live is None:
                continue
            assets = [PublishedAsset.model_validate(a) for a in live.assets]
            result = service.publish(conn, course, live.version, assets, published_at=live.published_at,
                                     source="reindex")
            summary.switched += int(result.switched)
    summary.seconds = time.perf_counter() - started
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smartcourse.ai.reindex", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--course", action="append", type=uuid.UUID, metavar="COURSE_ID",
                        help="a course to re-index (repeatable)")
    target.add_argument("--all", action="store_true", help="every course with assets or a live version")
    args = parser.parse_args(argv)

    settings = load_settings(IngestSettings)
    service = build_service(settings)
    switch_db = new_database(settings, "smartcourse-reindex")
    try:
        if args.all:
            with service.database.transaction() as conn:
                courses = all_courses(conn)
        else:
            courses = list(args.course)
        summary = reindex(service, switch_db, courses)
    finally:
        switch_db.close()
        service.database.close()
    print("\n".join(summary.lines(service.model_version)))
    return 1 if summary.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
