"""The S3 adapter of the LMS: presigned uploads (POST policy) and downloads, object deletion.

Signing is local (no network call); only `delete` talks to S3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    method: str
    url: str
    fields: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PresignedDownload:
    url: str
    expires_at: datetime


class Storage(Protocol):
    def presign_upload(self, key: str, content_type: str, size: int) -> PresignedUpload: ...
    def presign_download(self, key: str, filename: str) -> PresignedDownload: ...
    def delete(self, key: str) -> None: ...


class LazyStorage:
    """A `Storage` obtained from `get` when a use case first needs it. Most requests never touch
    S3, and making the client (botocore's import and its S3 client, about 130 ms on a cold start)
    is then not paid: before 2026-12-06 every LMS request made it, and it was two thirds of a
    fresh process's first `GET /courses/{id}` (bench api)."""

    def __init__(self, get: Callable[[], Storage]) -> None:
        self._get = get

    def presign_upload(self, key: str, content_type: str, size: int) -> PresignedUpload:
        return self._get().presign_upload(key, content_type, size)

    def presign_download(self, key: str, filename: str) -> PresignedDownload:
        return self._get().presign_download(key, filename)

    def delete(self, key: str) -> None:
        self._get().delete(key)


class S3Storage:
    def __init__(self, s3: Any, bucket: str, *, upload_ttl_s: int = 900, download_ttl_s: int = 300) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.upload_ttl_s = upload_ttl_s
        self.download_ttl_s = download_ttl_s

    def presign_upload(self, key: str, content_type: str, size: int) -> PresignedUpload:
        """A POST policy that S3 enforces: exactly `size` bytes, exactly `content_type`, this key."""
        post = self.s3.generate_presigned_post(
            Bucket=self.bucket, Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", size, size]],
            ExpiresIn=self.upload_ttl_s,
        )
        expires = datetime.now(UTC) + timedelta(seconds=self.upload_ttl_s)
        return PresignedUpload("POST", str(post["url"]), {k: str(v) for k, v in post["fields"].items()}, expires)

    def presign_download(self, key: str, filename: str) -> PresignedDownload:
        """`filename` is the display name; the header is built by `domain.download_disposition`."""
        from smartcourse.lms.domain import download_disposition

        url = self.s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key, "ResponseContentDisposition": download_disposition(filename)},
            ExpiresIn=self.download_ttl_s,
        )
        return PresignedDownload(str(url), datetime.now(UTC) + timedelta(seconds=self.download_ttl_s))

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)
