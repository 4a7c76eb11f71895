"""The assets bucket, as ingestion sees it: HEAD and GET of one object.

`S3Objects` adapts a botocore S3 client (through `smartcourse.aws.client`, which honours AWS_ENDPOINT_URL).
Missing objects are `ObjectMissing` (permanent); throttling, 5xx and connection failures are
`DependencyUnavailable` (transient: the invocation fails and the trigger retries it).
"""

from __future__ import annotations

from typing import Any, Protocol

from smartcourse.ai.assets import ObjectInfo
from smartcourse.errors import DependencyUnavailable


class ObjectMissing(Exception):
    """The object does not exist (deleted since the notification, or never written)."""


class ObjectStore(Protocol):
    def head(self, key: str) -> ObjectInfo: ...

    def get(self, key: str) -> bytes: ...


_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})


class S3Objects:
    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client
        self.bucket = bucket

    def head(self, key: str) -> ObjectInfo:
        resp = self._call(self._s3.head_object, key)
        return ObjectInfo(size=int(resp["ContentLength"]), content_type=resp.get("ContentType"),
                          etag=str(resp.get("ETag", "")).strip('"'))

    def get(self, key: str) -> bytes:
        resp = self._call(self._s3.get_object, key)
        try:
            return bytes(resp["Body"].read())
        except Exception as exc:  # connection reset mid-body: transient
            raise DependencyUnavailable(f"reading s3://{self.bucket}/{key} failed") from exc

    def _call(self, fn: Any, key: str) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_CODES:
                raise ObjectMissing(f"s3://{self.bucket}/{key} does not exist") from exc
            raise DependencyUnavailable(f"S3 refused {fn.__name__} on {key}: {code}") from exc
        except BotoCoreError as exc:  # endpoint unreachable, timeouts
            raise DependencyUnavailable(f"S3 unavailable: {type(exc).__name__}") from exc
