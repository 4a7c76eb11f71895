"""The LMS API in-process (its fixtures), the database, and NotificationsFunction's handler, for
the notification tests."""

from __future__ import annotations

from typing import Any

import pytest

from smartcourse.container import reset_all
from tests.conftest import load_function_module
from tests.integration.lms.conftest import api, api_module, db  # noqa: F401  (fixtures)


class Ctx:
    """The Lambda context the handler reads."""

    function_name = "NotificationsFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:NotificationsFunction"
    aws_request_id = "req-1"


@pytest.fixture
def fn(api_module: Any, in_process_env: dict[str, str], provisioned: Any) -> Any:  # noqa: F811
    """NotificationsFunction's module, with its container reset for this test's environment."""
    module = load_function_module("notifications")
    reset_all()
    return module
