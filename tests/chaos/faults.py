"""The faults, injected into the private stack while the workload runs, and the recovery clock.

- ``kafka``: the broker is stopped (SIGTERM, controlled shutdown) and started again on the same
  data directory after ``down_s``.
- ``postgres``: ``pg_ctl stop`` (fast: every connection is cut) and start on the same data dir.
- ``kill-certificates``: SIGKILL of the CertificatesFunction worker while it handles an MSK batch,
  at the moment the database shows some but not all of the batch's course.completed records
  committed (so the kill lands mid-batch, by construction).
- ``kill-ingest``: SIGKILL of the IngestFunction worker while it handles an S3 notification, at the
  moment the document is ``processing`` (downloaded/extracting/embedding, not finished).
- ``s3``: the fault proxy between the functions and moto resets every connection for ``down_s``.

Recovery of a fault = from its end until the backlog that existed at that moment has drained:
every outbox row written until then is published, every course.completed / course.published /
asset.deleted among them is processed by its consumer, and every upload finished until then has a
ready document.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from tests.chaos.stack import PrivateStack
from tests.chaos.workload import Upload

COMPLETED = "smartcourse.course.completed.v1"
INGEST_TYPES = ("smartcourse.course.published.v1", "smartcourse.asset.deleted.v1")


@dataclass
class FaultRecord:
    name: str
    started: float
    ended: float = 0.0
    detail: str = ""
    landed: bool = True  # False: the fault could not be injected (e.g. no batch in flight in time)
    recovered_s: float | None = None


@dataclass
class Faults:
    stack: PrivateStack
    t0: float
    uploads: list[Upload]
    log: Callable[[str], None] = print
    records: list[FaultRecord] = field(default_factory=list)
    watchers: list[threading.Thread] = field(default_factory=list)
    recovery_timeout_s: float = 900.0
    stop_watching: threading.Event = field(default_factory=threading.Event)
    superseded_ok: bool = False  # see `backlog`

    def now(self) -> float:
        return time.monotonic() - self.t0

    # -- the faults -------------------------------------------------------------------------------

    def control(self) -> FaultRecord:
        """No fault: how long the backlog of this moment takes to drain anyway (the baseline the
        recovery times compare with: under load the slowest consumer is always some way behind)."""
        return self._ended(FaultRecord("control: no fault (baseline drain time)", self.now(), detail="-"))

    def kafka(self, down_s: float) -> FaultRecord:
        rec = FaultRecord("kafka broker stopped and restarted", self.now())
        self.stack.stop_kafka()
        time.sleep(down_s)
        t = time.monotonic()
        self.stack.start_kafka()
        rec.detail = f"down {down_s:.0f}s, restart took {time.monotonic() - t:.1f}s"
        return self._ended(rec)

    def postgres(self, down_s: float) -> FaultRecord:
        rec = FaultRecord("postgres restarted", self.now())
        self.stack.stop_postgres()
        time.sleep(down_s)
        t = time.monotonic()
        self.stack.start_postgres()
        rec.detail = f"down {down_s:.0f}s (+{time.monotonic() - t:.1f}s start)"
        return self._ended(rec)

    def s3(self, down_s: float) -> FaultRecord:
        assert self.stack.proxy is not None
        rec = FaultRecord("s3 endpoint unreachable", self.now())
        before = self.stack.proxy.refused
        self.stack.proxy.set_mode("refuse")
        time.sleep(down_s)
        self.stack.proxy.set_mode("up")
        rec.detail = f"{down_s:.0f}s of connection resets ({self.stack.proxy.refused - before} connections refused)"
        return self._ended(rec)

    def kill_certificates(self, timeout_s: float) -> FaultRecord:
        rec = FaultRecord("certificates worker killed mid-batch", self.now())
        db = psycopg.connect(self.stack.database_url, autocommit=True)
        done = threading.Event()

        def ids_of(event: Any) -> list[str]:
            out = []
            for records in (event.get("records") or {}).values():
                for r in records:
                    env = json.loads(base64.b64decode(r["value"]))
                    if env.get("type") == COMPLETED:
                        out.append(env["id"])
            return out

        def committed(ids: list[str]) -> int:
            row = db.execute("SELECT count(*) FROM lms.processed_events WHERE consumer = 'certificates' "
                             "AND event_id = ANY(%s::uuid[])", (ids,)).fetchone()
            return int(row[0]) if row else 0

        def listener(phase: str, pid: int, event: Any) -> None:
            if phase != "start" or done.is_set() or not isinstance(event, dict) or "records" not in event:
                return
            ids = ids_of(event)
            if len(ids) < 2:
                return
            batch = sum(len(v) for v in event["records"].values())
            threading.Thread(target=watch, args=(pid, ids, batch), daemon=True).start()

        lock = threading.Lock()

        def watch(pid: int, ids: list[str], batch: int) -> None:
            if not lock.acquire(blocking=False):
                return
            try:
                base = committed(ids)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not done.is_set():
                    n = committed(ids)
                    if n >= len(ids):
                        return  # the batch finished first: wait for another
                    if n > base:
                        os.kill(pid, signal.SIGKILL)
                        done.set()
                        rec.detail = (f"SIGKILL pid {pid} after {n}/{len(ids)} course.completed of a "
                                      f"{batch}-record batch were committed")
                        return
                    time.sleep(0.002)
            finally:
                lock.release()

        pool = self._pool("CertificatesFunction")
        pool.listeners.append(listener)
        try:
            done.wait(timeout_s)
        finally:
            pool.listeners.remove(listener)
            db.close()
        if not rec.detail:
            rec.landed = False
            rec.detail = f"no batch with 2+ course.completed in flight within {timeout_s:.0f}s"
        return self._ended(rec)

    def kill_ingest(self, timeout_s: float) -> FaultRecord:
        rec = FaultRecord("ingest worker killed mid-document", self.now())
        db = psycopg.connect(self.stack.database_url, autocommit=True)
        done = threading.Event()
        lock = threading.Lock()

        def listener(phase: str, pid: int, event: Any) -> None:
            if phase != "start" or done.is_set() or not isinstance(event, dict) or "Records" not in event:
                return
            from urllib.parse import unquote_plus

            keys = [unquote_plus(r["s3"]["object"]["key"]) for r in event["Records"] if "s3" in r]
            assets = [k.split("/")[3] for k in keys if k.startswith("courses/") and k.count("/") >= 4]
            if assets:
                threading.Thread(target=watch, args=(pid, assets[0]), daemon=True).start()

        def watch(pid: int, asset: str) -> None:
            if not lock.acquire(blocking=False):
                return
            try:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not done.is_set():
                    row = db.execute("SELECT status FROM ai.asset_index_status WHERE asset_id = %s",
                                     (asset,)).fetchone()
                    status = row[0] if row else None
                    if status in ("ready", "failed"):
                        return
                    if status == "processing":
                        os.kill(pid, signal.SIGKILL)
                        done.set()
                        rec.detail = f"SIGKILL pid {pid} while asset {asset[:8]} was processing"
                        return
                    time.sleep(0.002)
            finally:
                lock.release()

        pool = self._pool("IngestFunction")
        pool.listeners.append(listener)
        try:
            done.wait(timeout_s)
        finally:
            pool.listeners.remove(listener)
            db.close()
        if not rec.detail:
            rec.landed = False
            rec.detail = f"no document processing within {timeout_s:.0f}s"
        return self._ended(rec)

    def _pool(self, fid: str) -> Any:
        assert self.stack.runtime is not None
        return self.stack.runtime.pools[fid]

    # -- recovery ---------------------------------------------------------------------------------

    def _ended(self, rec: FaultRecord) -> FaultRecord:
        rec.ended = self.now()
        self.records.append(rec)
        self.log(f"  fault @{rec.started:6.1f}s-{rec.ended:6.1f}s: {rec.name}: {rec.detail}")
        if rec.landed:
            t = threading.Thread(target=self._watch_recovery, args=(rec, list(self.uploads)), daemon=True)
            t.start()
            self.watchers.append(t)
        return rec

    def _watch_recovery(self, rec: FaultRecord, uploads: list[Upload]) -> None:
        ended = time.monotonic()
        deadline = ended + self.recovery_timeout_s
        watermark: int | None = None
        assets = [u.asset_id for u in uploads]
        while time.monotonic() < deadline:
            last_look = self.stop_watching.is_set()
            try:
                with psycopg.connect(self.stack.database_url, connect_timeout=3) as conn:
                    if watermark is None:
                        row = conn.execute("SELECT coalesce(max(seq), 0) FROM lms.outbox").fetchone()
                        watermark = int(row[0]) if row else 0
                    if backlog(conn, watermark, assets, superseded_ok=self.superseded_ok) == 0:
                        rec.recovered_s = time.monotonic() - ended
                        self.log(f"  recovered from '{rec.name}' in {rec.recovered_s:.1f}s")
                        return
            except psycopg.OperationalError:
                pass
            if last_look:
                return  # the run has settled (or given up): not recovered
            time.sleep(0.5)

    def wait_recoveries(self) -> None:
        """After the run settled: one last look, then the faults not recovered stay so."""
        self.stop_watching.set()
        for t in self.watchers:
            t.join()


#: A course.published whose version is older than the version the AI side serves: no work left
#: (the consumer would ignore it; a newer version went live, e.g. made live by the ingest sweep).
SUPERSEDED_PUBLISH = """o.event_type = 'smartcourse.course.published.v1'
    AND (o.payload -> 'data' ->> 'version')::int < coalesce(
        (SELECT l.version FROM ai.course_live_versions l WHERE l.course_id::text = o.aggregate_id), 0)"""


def backlog(conn: psycopg.Connection[Any], watermark: int, assets: list[str], *, superseded_ok: bool = False) -> int:
    """What is still to do of the work committed up to outbox seq `watermark` (and `assets`).
    ``superseded_ok`` (the long S3 outage, where dead letters are expected): an unprocessed
    course.published older than the live version is not work left (`SUPERSEDED_PUBLISH`)."""
    row = conn.execute(
        """
        SELECT
          (SELECT count(*) FROM lms.outbox WHERE seq <= %(wm)s AND published_at IS NULL)
        + (SELECT count(*) FROM lms.outbox o WHERE o.seq <= %(wm)s AND o.event_type = %(completed)s
             AND NOT EXISTS (SELECT 1 FROM lms.processed_events p
                             WHERE p.consumer = 'certificates' AND p.event_id = o.id))
        + (SELECT count(*) FROM lms.outbox o WHERE o.seq <= %(wm)s AND o.event_type = ANY(%(ingest)s)
             AND NOT EXISTS (SELECT 1 FROM ai.processed_events p WHERE p.consumer = 'ingest' AND p.event_id = o.id)
             AND NOT (%(superseded_ok)s AND """ + SUPERSEDED_PUBLISH + """))
        + (SELECT count(*) FROM unnest(%(assets)s::uuid[]) a(id)
             WHERE NOT EXISTS (SELECT 1 FROM ai.asset_index_status s WHERE s.asset_id = a.id AND s.status = 'ready'))
        """,
        {"wm": watermark, "completed": COMPLETED, "ingest": list(INGEST_TYPES), "assets": assets,
         "superseded_ok": superseded_ok}).fetchone()
    return int(row[0]) if row else 0

