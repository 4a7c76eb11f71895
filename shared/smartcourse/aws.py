"""boto3 clients that honour the local endpoint (moto server / LocalStack on :4566)."""

from __future__ import annotations

import functools
from typing import Any

from smartcourse.settings import CommonSettings


@functools.cache
def _client(service: str, region: str, endpoint_url: str | None) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=20)
    if service == "s3":
        # Path-style addressing works for every local endpoint and for AWS.
        config = config.merge(Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url, config=config)


def client(service: str, settings: CommonSettings) -> Any:
    """A cached client per (service, region, endpoint): one per Lambda container."""
    return _client(service, settings.aws_region, settings.aws_endpoint_url)
