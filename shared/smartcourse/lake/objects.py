"""The lake bucket adapter (S3, botocore): put, list, download and delete the lake's objects.

Any S3 failure is `ArchiveUnavailable` (transient): the archiver's records are retried and a
compaction that did not finish leaves files a reader de-duplicates (docs/lake.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smartcourse.lake.domain import ArchiveUnavailable

PARQUET = "application/vnd.apache.parquet"


class S3Lake:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def _fail(self, what: str, exc: Exception) -> ArchiveUnavailable:
        return ArchiveUnavailable(f"{what} s3://{self.bucket}: {type(exc).__name__}: {exc}"[:500])

    def put_file(self, key: str, path: Path) -> None:
        """Write (or overwrite: keys are deterministic) one object from a local file."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            with path.open("rb") as body:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=PARQUET)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(f"could not write {key} to", exc) from exc

    def list_keys(self, prefix: str) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        keys: list[str] = []
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(obj["Key"] for obj in page.get("Contents", []))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(f"could not list {prefix} in", exc) from exc
        return keys

    def download(self, key: str, path: Path) -> None:
        """One object to a local file, streamed (the lake's Parquet files are read whole)."""
        import shutil

        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
            with body, path.open("wb") as out:
                shutil.copyfileobj(body, out, 1 << 20)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(f"could not read {key} from", exc) from exc

    def delete(self, keys: list[str]) -> None:
        """Delete objects (1,000 per request, as S3 takes them); a key already gone is fine."""
        from botocore.exceptions import BotoCoreError, ClientError

        for start in range(0, len(keys), 1000):
            chunk = keys[start:start + 1000]
            try:
                out = self.s3.delete_objects(Bucket=self.bucket, Delete={
                    "Objects": [{"Key": k} for k in chunk], "Quiet": True})
            except (BotoCoreError, ClientError) as exc:
                raise self._fail("could not delete from", exc) from exc
            errors = out.get("Errors") or []
            if errors:
                raise ArchiveUnavailable(f"could not delete {len(errors)} object(s) from s3://{self.bucket}: "
                                         f"{errors[0].get('Code')}: {errors[0].get('Message')}"[:500])
