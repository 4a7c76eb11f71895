"""AWS clients that honour the local endpoint (moto server / LocalStack on :4566).

The clients are botocore's own, made by one botocore session per process, without boto3: boto3's
`client()` is that same botocore client, and importing boto3 also imports s3transfer (the managed
transfers, `upload_file` and the like, which nothing here uses). A function's first call to AWS
(its secrets in AWS, the API's S3 and health check) is its cold start: the API's cold health check
answered in a median of 132 ms instead of 150 ms after its import (docs/architecture.md). The
session reads botocore's data files with `smartcourse.botocore_data.Loader`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Protocol


class AwsLocation(Protocol):
    """Where AWS is: a region, and the local endpoint (moto / LocalStack) when there is one.
    Every function's settings are one (`smartcourse.settings.CommonSettings`)."""

    @property
    def aws_region(self) -> str: ...

    @property
    def aws_endpoint_url(self) -> str | None: ...


@dataclass(frozen=True)
class Location:
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None


def location_of(settings: object) -> AwsLocation:
    """`settings` itself when it says where AWS is, else the default region (a settings model
    such as JwtSettings used alone, in tests)."""
    if hasattr(settings, "aws_region") and hasattr(settings, "aws_endpoint_url"):
        return settings  # type: ignore[return-value]
    return Location()


@functools.cache
def _session() -> Any:
    """The process's botocore session: its credential chain and loaded data files serve every client.
    Its data loader is `smartcourse.botocore_data.Loader` (the first client in half the time)."""
    import botocore.session

    from smartcourse import botocore_data

    session = botocore.session.get_session()
    botocore_data.install(session)
    return session


@functools.cache
def _client(service: str, region: str, endpoint_url: str | None) -> Any:
    from botocore.config import Config

    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=20)
    if service == "s3":
        # Path-style addressing works for every local endpoint and for AWS.
        config = config.merge(Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
    return _session().create_client(service, region_name=region, endpoint_url=endpoint_url, config=config)


def client(service: str, where: AwsLocation) -> Any:
    """A cached client per (service, region, endpoint): one per Lambda container."""
    return _client(service, where.aws_region, where.aws_endpoint_url)
