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
    assert msk.topics == ("smartcourse.qa.course", "smartcourse.qa.asset", "smartcourse.qa.user")
    assert msk.dead_letter_topic == "smartcourse.qa.dlq"
    assert msk.report_batch_item_failures and msk.starting_position == "TRIM_HORIZON"
    s3 = {e.name: e for e in ingest.s3_events}
    assert s3["AssetUploaded"].events == ("s3:ObjectCreated:*",) and s3["AssetUploaded"].prefix == "courses/"
    relay = t.function("OutboxRelayFunction")
    assert relay.schedule_events[0].rate_seconds == 60
    assert relay.reserved_concurrency == 2


def test_the_email_feedback_topic_reaches_notifications_as_an_sns_event_per_stage() -> None:
    t = tpl.load(parameter_overrides={"Stage": "qa"})
    notifications = t.function("NotificationsFunction")
    [sns] = notifications.sns_events
    assert sns == tpl.SnsEvent("EmailFeedback", "arn:aws:sns:us-east-1:123456789012:smartcourse-qa-email-feedback")
    assert sns.topic_name == "smartcourse-qa-email-feedback"
    assert {e.name for e in notifications.msk_events} == {"DomainEvents"}  # the others are kept
    assert {e.name for e in notifications.schedule_events} == {"DeliverEmails"}
    # It sends with the configuration set whose event destination publishes to that topic
    assert notifications.environment["EMAIL_CONFIGURATION_SET"] == "smartcourse-qa-notifications"
    [dest] = t.email_event_destinations
    assert dest == tpl.EmailEventDestination("EmailFeedbackDestination", "smartcourse-qa-notifications",
                                             ("bounce", "complaint"), sns.topic_arn, True)


SNS_TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: probe}
Resources:
  Feedback:
    Type: AWS::SNS::Topic
    Properties: {TopicName: !Sub "probe-${Stage}-feedback"}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: x/
      Handler: app.handler
      Events:
        OnFeedback:
          Type: SNS
          Properties: %s
"""


@pytest.mark.parametrize(("props", "arn"), [
    ("{Topic: !Ref Feedback}", "arn:aws:sns:us-east-1:123456789012:probe-probe-feedback"),
    ('{Topic: "arn:aws:sns:eu-west-1:210987654321:elsewhere"}', "arn:aws:sns:eu-west-1:210987654321:elsewhere"),
])
def test_sns_events_resolve_their_topic_arn(tmp_path: Path, props: str, arn: str) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(SNS_TEMPLATE % props)
    [event] = tpl.load(path).function("Fn").sns_events
    assert event.name == "OnFeedback" and event.topic_arn == arn and event.topic_name == arn.rsplit(":", 1)[1]


@pytest.mark.parametrize(("props", "error"), [
    ('{Topic: !Ref Feedback, FilterPolicy: {kind: [bounce]}}', "FilterPolicy are not driven"),
    ("{Topic: !Ref Feedback, SqsSubscription: true}", "SqsSubscription are not driven"),
    ('{Topic: "not-an-arn"}', "not an SNS topic ARN"),
])
def test_sns_event_properties_the_runtime_cannot_reproduce_are_refused(tmp_path: Path, props: str,
                                                                       error: str) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(SNS_TEMPLATE % props)
    with pytest.raises(tpl.TemplateError, match=error):
        tpl.load(path)


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


def test_every_function_and_layer_is_built_by_its_makefile_with_the_layer_it_can_afford() -> None:
    """`sam build` runs each resource's Makefile target (Metadata BuildMethod makefile): with
    bytecode compiled, as Lambda's read-only /var/task and /opt keep none (shared/Makefile), or
    pruned to fit the size limit (IngestFunction, AssistantFunction, on the layer without bytecode).
    A Metadata block put under the wrong resource, or a target missing, fails here."""
    import re

    import yaml

    raw = yaml.load(tpl.TEMPLATE.read_text(), Loader=tpl._Loader)  # the SafeLoader with CFN tags
    assert "Layers" not in raw["Globals"]["Function"]  # SAM appends a function's Layers to the Globals' ones
    built = {lid: res for lid, res in raw["Resources"].items() if (res.get("Metadata") or {}).get("BuildMethod")}
    kinds = {res["Type"] for res in built.values()}
    assert kinds == {"AWS::Serverless::Function", "AWS::Serverless::LayerVersion"}, kinds
    lean = {"IngestFunction", "AssistantFunction"}
    for lid, res in raw["Resources"].items():
        if res["Type"] not in kinds:
            continue
        assert lid in built and built[lid]["Metadata"]["BuildMethod"] == "makefile", lid
        props = res["Properties"]
        folder = tpl.ROOT / str(props.get("CodeUri") or props.get("ContentUri"))
        makefile = (folder / "Makefile").read_text()
        assert re.search(rf"^build-{lid}:", makefile, re.M), f"{folder}/Makefile has no build-{lid} target"
        if res["Type"] == "AWS::Serverless::Function":
            layer = "SharedLayerLean" if lid in lean else "SharedLayer"
            assert [getattr(x, "value", x) for x in props["Layers"]] == [layer], lid
            bytecode = re.search(rf"^build-{lid}: bundle-with-bytecode$", makefile, re.M) is not None
            assert bytecode == (lid not in lean), lid  # functions/lambda.mk
