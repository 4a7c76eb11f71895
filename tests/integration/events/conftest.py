"""Fixtures for the event backbone tests: a private database and topic prefix per test."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# backbone_helpers is imported by name (pytest runs with --import-mode=importlib).
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def backbone_db(stack_endpoints: Any, stage: str) -> Iterator[str]:
    """A fresh, migrated database: the relay sees only this test's outbox rows."""
    from devstack.postgres import drop_database, ensure_database
    from smartcourse import migrate

    name = f"sc_{stage}_bb{secrets.token_hex(3)}"
    ensure_database(stack_endpoints.admin_database_url, name)
    url = stack_endpoints.database_url(name)
    migrate.apply(url)
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:  # speed only: no test here crashes Postgres
        conn.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(sql.Identifier(name)))
    yield url
    drop_database(stack_endpoints.admin_database_url, name)


@pytest.fixture
def kafka_bootstrap(stack_endpoints: Any) -> str:
    return str(stack_endpoints.kafka_bootstrap_servers)


@pytest.fixture
def topic_prefix(kafka_bootstrap: str, stage: str) -> Iterator[str]:
    """A private topic prefix with the configured topics created on the shared broker."""
    from devstack.provision import ensure_topics, topic_specs

    prefix = f"smartcourse.{stage}bb{secrets.token_hex(3)}"
    specs = topic_specs(prefix)
    ensure_topics(kafka_bootstrap, specs)
    yield prefix
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="bb-test-cleanup")
    try:
        admin.delete_topics([s.name for s in specs])
    except Exception:  # cleanup only
        pass
    finally:
        admin.close()
