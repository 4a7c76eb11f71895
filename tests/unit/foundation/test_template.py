"""template.yaml is the one source of wiring: the runtime's reading of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import template as tpl
from devstack.gateway import compile_routes, match

ROOT = Path(__file__).resolve().parents[3]
PROBE = ROOT / "tests" / "fixtures" / "runtime" / "template.yaml"


def test_real_template_resolves_stage_into_names_topics_and_env() -> None:
    t = tpl.load(parameter_overrides={"Stage": "qa"})
    assert t.buckets["AssetsBucket"] == "smartcourse-qa-assets-123456789012"
    ingest = t.function("IngestFunction")
    assert ingest.code_uri == ROOT / "functions" / "ingest"
    assert ingest.layers == [ROOT / "shared"]
    assert ingest.environment["TOPIC_PREFIX"] == "smartcourse.qa"
    assert ingest.environment["ASSETS_BUCKET"] == "smartcourse-qa-assets-123456789012"
    assert ingest.environment["POWERTOOLS_SERVICE_NAME"] == "ingest"  # function env merged over Globals
    msk = ingest.msk_events[0]
    assert msk.topics == ("smartcourse.qa.course", "smartcourse.qa.asset")
    assert msk.dead_letter_topic == "smartcourse.qa.dlq"
    assert msk.report_batch_item_failures and msk.starting_position == "TRIM_HORIZON"
    s3 = {e.name: e for e in ingest.s3_events}
    assert s3["AssetUploaded"].events == ("s3:ObjectCreated:*",) and s3["AssetUploaded"].prefix == "courses/"
    relay = t.function("OutboxRelayFunction")
    assert relay.schedule_events[0].rate_seconds == 60
    assert relay.reserved_concurrency == 2


def test_every_function_in_the_template_has_a_handler_file() -> None:
    t = tpl.load()
    for spec in t.functions.values():
        module = spec.handler.rsplit(".", 1)[0]
        assert (spec.code_uri / f"{module}.py").exists(), f"{spec.logical_id}: {spec.handler} not found"


def test_unknown_function_names_the_known_ones() -> None:
    with pytest.raises(tpl.TemplateError, match=r"known: .*ApiFunction"):
        tpl.load().function("NoSuchFunction")


def test_routes_prefer_literal_segments_and_decode_path_parameters() -> None:
    t = tpl.load(PROBE)
    routes = compile_routes(t)
    route, params, _ = match(routes, "GET", "/echo/a%20b")
    assert route is not None and route.resource == "/echo/{name}" and params == {"name": "a b"}
    route, params, _ = match(routes, "PATCH", "/items/x/y")
    assert route is not None and route.resource == "/items/{proxy+}" and params == {"proxy": "x/y"}
    route, _, known = match(routes, "POST", "/echo/x")
    assert route is None and known  # path exists, method does not
    route, _, known = match(routes, "GET", "/missing")
    assert route is None and not known


def test_schedule_expressions_other_than_rate_are_refused_clearly() -> None:
    with pytest.raises(tpl.TemplateError, match="only rate"):
        _ = tpl.ScheduleEvent("x", "cron(0 12 * * ? *)", True).rate_seconds
