"""smartcourse.botocore_data: the same models as botocore's own loader, without listing every service."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import UnknownServiceError

from smartcourse import aws, botocore_data

#: every service the functions make a client for (smartcourse.aws.client callers)
SERVICES = ("s3", "secretsmanager", "sesv2", "sns")
TYPES = ("service-2", "endpoint-rule-set-1", "paginators-1")


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("type_name", TYPES)
def test_models_equal_botocores_own(service: str, type_name: str) -> None:
    ours = botocore_data.Loader().load_service_model(service, type_name)
    theirs = botocore.loaders.Loader().load_service_model(service, type_name)
    assert ours == theirs  # OrderedDict == dict compares items, nested too
    assert list(ours) == list(theirs)  # and the order botocore's model classes read
    assert type(ours) is dict


def test_endpoints_and_partitions_equal_botocores_own() -> None:
    for name in ("endpoints", "partitions", "_retry", "sdk-default-configuration"):
        assert botocore_data.Loader().load_data(name) == botocore.loaders.Loader().load_data(name)


def test_a_service_is_found_without_listing_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    def listing(self: object, type_name: str) -> list[str]:
        raise AssertionError("listed every service")

    monkeypatch.setattr(botocore_data.Loader, "list_available_services", listing)
    assert botocore_data.Loader().load_service_model("s3", "service-2")["metadata"]["endpointPrefix"] == "s3"


def test_an_unknown_service_raises_botocores_error() -> None:
    with pytest.raises(UnknownServiceError, match="nosuchservice"):
        botocore_data.Loader().load_service_model("nosuchservice", "service-2")


def test_aws_data_path_is_searched_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "s3" / "2006-03-01"
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps({"metadata": {"serviceId": "overridden"}}))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    session = botocore.session.get_session()
    botocore_data.install(session)
    loader = session.get_component("data_loader")
    assert isinstance(loader, botocore_data.Loader)
    assert loader.load_service_model("s3", "service-2")["metadata"]["serviceId"] == "overridden"


def test_the_process_session_uses_the_loader() -> None:
    aws._session.cache_clear()
    try:
        assert isinstance(aws._session().get_component("data_loader"), botocore_data.Loader)
        s3 = aws.client("s3", aws.Location(aws_endpoint_url="http://127.0.0.1:1"))
        assert s3.meta.service_model.service_name == "s3"
        assert "head_bucket" in dir(s3)
    finally:
        aws._session.cache_clear()
        aws._client.cache_clear()
