"""template.yaml is fit to deploy and to operate (issue 15): least-privilege IAM, required
parameters without placeholder defaults, a log group with retention per function, on-failure
destinations for asynchronous invocations, the assistant inside API Gateway's limit, throttling,
and an alarm for every signal docs/operations.md describes, on metrics the code really emits."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.template import LOCAL_PARAMETERS, _Tag, load, load_raw
from smartcourse.observability import METRICS
from tests.conftest import ROOT

RAW = load_raw()
RES: dict[str, Any] = RAW["Resources"]
FUNCTIONS = {k: v for k, v in RES.items() if v["Type"] == "AWS::Serverless::Function"}
ALARMS = {k: v["Properties"] for k, v in RES.items() if v["Type"] == "AWS::CloudWatch::Alarm"}


def _t(value: Any) -> Any:
    """A tagged value (!Ref X) as ("Ref", "X") so it compares; anything else as it is."""
    return (value.tag, value.value) if isinstance(value, _Tag) else value


def _statements(props: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for policy in props.get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            out.extend(policy["Statement"])
    return out


def _actions(st: dict[str, Any]) -> list[str]:
    a = st["Action"]
    return [a] if isinstance(a, str) else list(a)


def test_no_function_may_read_every_secret_or_touch_every_kafka_resource() -> None:
    for name, fn in FUNCTIONS.items():
        for st in _statements(fn["Properties"]):
            sensitive = [a for a in _actions(st) if a.startswith(("secretsmanager:", "kafka-cluster:", "kafka:"))]
            if sensitive:
                resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
                assert "*" not in resources, (name, sensitive)


def test_each_function_reads_only_the_secrets_it_uses() -> None:
    def secrets_of(name: str) -> str:
        [st] = [s for s in _statements(FUNCTIONS[name]["Properties"]) if "secretsmanager:GetSecretValue" in _actions(s)]
        return repr(st["Resource"])

    assert "JwtSecretArn" in secrets_of("ApiFunction") and "GroqApiKeySecretArn" not in secrets_of("ApiFunction")
    for name in ("OutboxRelayFunction", "IngestFunction", "CertificatesFunction"):
        assert secrets_of(name) == "!Ref 'DatabaseSecretArn'", name
    assistant = secrets_of("AssistantFunction")
    assert "GroqApiKeySecretArn" in assistant and "HasGroqSecret" in assistant
    notifications = secrets_of("NotificationsFunction")  # the JWT key signs its unsubscribe links
    assert "JwtSecretArn" in notifications and "GroqApiKeySecretArn" not in notifications


def test_every_msk_mapping_publishes_its_kafka_metrics() -> None:
    # MetricsConfig: the mapping's own EventCount, ErrorCount and KafkaMetrics (consumer lag per
    # mapping), beside the OffsetLag alarms.
    mappings = [(name, ev["Properties"]) for name, fn in FUNCTIONS.items()
                for ev in fn["Properties"].get("Events", {}).values() if ev["Type"] == "MSK"]
    assert len(mappings) >= 3
    for name, props in mappings:
        assert set(props["MetricsConfig"]["Metrics"]) == {"EventCount", "ErrorCount", "KafkaMetrics"}, name


def test_what_a_deploy_must_supply_has_no_placeholder_default() -> None:
    params = RAW["Parameters"]
    for name in ("MskClusterArn", "KafkaBootstrapServers", "DatabaseSecretArn", "JwtSecretArn", "PublicBaseUrl"):
        assert "Default" not in params[name] and params[name]["AllowedPattern"], name
        assert name in LOCAL_PARAMETERS  # what the local runtime uses instead
    assert RAW["Rules"]["SeparateSecrets"]["Assertions"]


def test_every_function_logs_json_to_its_own_group_with_retention() -> None:
    groups = {k: v["Properties"] for k, v in RES.items() if v["Type"] == "AWS::Logs::LogGroup"}
    used = set()
    for name, fn in FUNCTIONS.items():
        cfg = fn["Properties"]["LoggingConfig"]
        assert cfg["LogFormat"] == "JSON", name
        group = cfg["LogGroup"].value
        assert group in groups and _t(groups[group]["RetentionInDays"]) == ("Ref", "LogRetentionDays"), name
        used.add(group)
    assert len(used) == len(FUNCTIONS)


def test_asynchronous_invocations_have_an_on_failure_destination() -> None:
    for name, fn in FUNCTIONS.items():
        events = fn["Properties"].get("Events", {}).values()
        if any(e["Type"] in ("Schedule", "S3", "SNS") for e in events):  # Lambda invokes these asynchronously
            dest = fn["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
            assert dest["Type"] == "SQS" and _t(dest["Destination"]) == ("GetAtt", "AsyncFailuresQueue.Arn"), name


def test_the_assistant_answers_inside_api_gateway_and_the_api_is_throttled() -> None:
    assert load().function("AssistantFunction").timeout <= 28  # API Gateway stops waiting at 29 s
    [settings] = RAW["Globals"]["Api"]["MethodSettings"]
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] > 0


def test_an_alarm_watches_every_signal_and_custom_ones_use_declared_metrics() -> None:
    watched = {(a.get("Namespace"), a.get("MetricName")) for a in ALARMS.values()}
    for name in FUNCTIONS:
        dims = [a["Dimensions"] for a in ALARMS.values() if a.get("Namespace") == "AWS/Lambda"
                and a["MetricName"] in ("Errors", "Throttles")]
        assert sum(1 for d in dims if _t(d[0]["Value"]) == ("Ref", name)) == 2, name
    for signal in [("AWS/ApiGateway", "5XXError"), ("AWS/ApiGateway", "Latency"),
                   ("SmartCourse", "OutboxOldestUnpublishedAge"), ("SmartCourse", "OutboxParkedRows"),
                   ("SmartCourse", "ConsumerDeadLettered"), ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
                   ("AWS/Lambda", "OffsetLag"), ("SmartCourse", "LlmRateLimited")]:
        assert signal in watched, signal
    rate = ALARMS["IngestFailureRate"]["Metrics"]
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in rate if "MetricStat" in m} == {
        "DocumentsFailed", "DocumentsIndexed", "DocumentsReused"}
    for a in ALARMS.values():
        assert [_t(x) for x in a["AlarmActions"]] == [("Ref", "AlarmTopic")]
        if a.get("Namespace") == "SmartCourse":
            assert a["MetricName"] in METRICS, a["MetricName"]
            assert {d["Name"] for d in a["Dimensions"]} == {"service", "stage"}  # what Powertools emits


@pytest.mark.parametrize("anchor", sorted(a.lower() for a in ALARMS))
def test_every_alarm_is_explained_in_the_operations_guide(anchor: str) -> None:
    guide = (ROOT / "docs" / "operations.md").read_text()
    assert f'<a id="{anchor}"></a>' in guide, anchor
