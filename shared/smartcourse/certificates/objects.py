"""The certificates bucket adapter (S3): private objects, short-lived presigned GETs."""

from __future__ import annotations

from typing import Any

from smartcourse.certificates.domain import StorageError

PDF = "application/pdf"


class S3CertificateStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def put(self, key: str, body: bytes, *, metadata: dict[str, str] | None = None) -> None:
        """Write (or overwrite: keys are deterministic) one PDF; `StorageError` if S3 fails."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=PDF,
                               ContentDisposition=f'inline; filename="{key.rsplit("/", 1)[-1]}"',
                               Metadata=metadata or {})
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"could not store s3://{self.bucket}/{key}: {type(exc).__name__}: {exc}"[:500]) from exc

    def presigned_get(self, key: str, expires_s: int) -> str:
        """A GET URL for `key` valid `expires_s` seconds (signing is local: no S3 call)."""
        url: str = self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key, "ResponseContentType": PDF},
            ExpiresIn=expires_s)
        return url
