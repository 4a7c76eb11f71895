"""RDS Proxy as an option (issue 19, docs/scaling.md "Database"): template.yaml deploys it when a
target is given, every function but the relay connects through it, with TLS required and no
server-side prepared statements (they would pin the client to one database connection)."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from devstack import template as tpl
from smartcourse.container import database_for
from smartcourse.settings import CommonSettings, through_proxy

PROXY = "smartcourse-qa.proxy-abc123.us-east-1.rds.amazonaws.com"


@pytest.mark.parametrize("url", [
    "postgresql://app:p%40ss@db.abc123.us-east-1.rds.amazonaws.com:5433/smartcourse?connect_timeout=3",
    "host=db.abc123.us-east-1.rds.amazonaws.com port=5433 user=app password=p@ss dbname=smartcourse "
    "connect_timeout=3",
])
def test_the_proxy_replaces_the_host_and_requires_tls_keeping_the_rest(url: str) -> None:
    params = conninfo_to_dict(through_proxy(url, PROXY))
    assert params == {"host": PROXY, "port": "5433", "user": "app", "password": "p@ss", "dbname": "smartcourse",
                      "connect_timeout": "3", "sslmode": "require"}


def test_behind_the_proxy_the_database_url_changes_and_nothing_is_prepared() -> None:
    direct = CommonSettings(database_url="postgresql://app:pw@db.internal:5432/smartcourse")
    proxied = CommonSettings(database_url="postgresql://app:pw@db.internal:5432/smartcourse",
                             database_proxy_host=PROXY)
    plain, pooled = database_for(direct, "t"), database_for(proxied, "t")  # nothing connects yet
    assert conninfo_to_dict(plain.url)["host"] == "db.internal"
    assert conninfo_to_dict(pooled.url)["host"] == PROXY
    assert plain.prepares_statements
    assert not pooled.prepares_statements


def test_the_template_deploys_the_proxy_only_with_a_target_and_the_relay_always_connects_directly() -> None:
    without = tpl.load(parameter_overrides={"SubnetIds": "subnet-1", "SecurityGroupIds": "sg-1"})
    assert all(not f.environment.get("DATABASE_PROXY_HOST") for f in without.functions.values())
    with_proxy = tpl.load(parameter_overrides={"SubnetIds": "subnet-1", "SecurityGroupIds": "sg-1",
                                               "DatabaseProxyClusterId": "smartcourse-db"})
    proxied = {name for name, f in with_proxy.functions.items() if f.environment.get("DATABASE_PROXY_HOST")}
    assert proxied == set(with_proxy.functions) - {"OutboxRelayFunction"}
    assert with_proxy.functions["ApiFunction"].environment["DATABASE_PROXY_HOST"] == "DatabaseProxy.Endpoint"
    raw = tpl.load_raw()["Resources"]
    assert {raw[r]["Condition"] for r in ("DatabaseProxy", "DatabaseProxyTargetGroup", "DatabaseProxyRole")} == {
        "UseDatabaseProxy"}
