"""The LMS API in-process (its fixtures) and the database, for the notification tests."""

from tests.integration.lms.conftest import api, api_module, db  # noqa: F401  (fixtures)
