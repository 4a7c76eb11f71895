"""The local runtime drives every trigger kind from a template, end to end, on the real stack."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack import template as tpl
from devstack.provision import TopicSpec, ensure_buckets_and_notifications, ensure_topics
from devstack.runtime import LocalRuntime, RuntimeOptions
from devstack.stack import aws_clients
from testkit.polling import eventually
from tests.conftest import free_port

pytestmark = pytest.mark.integration
PROBE_TEMPLATE = Path(__file__).resolve().parents[2] / "fixtures" / "runtime" / "template.yaml"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def probe(stack_endpoints: Any, stage: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    probe_dir = tmp_path_factory.mktemp("probe")
    template = tpl.load(PROBE_TEMPLATE, parameter_overrides={"Stage": stage})
    s3, sqs = aws_clients(stack_endpoints.aws_endpoint_url)
    queues = ensure_buckets_and_notifications(template, stage, s3, sqs)
    ensure_topics(stack_endpoints.kafka_bootstrap_servers,
                  [TopicSpec(f"probe.{stage}.in", 2, 3600000), TopicSpec(f"probe.{stage}.dlq", 1, 3600000)])
    port = free_port()
    runtime = LocalRuntime(
        template, {"PROBE_DIR": str(probe_dir), "AWS_ENDPOINT_URL": stack_endpoints.aws_endpoint_url},
        RuntimeOptions(http_port=port, schedule_rate_s=0.5, msk_retry_backoff_s=0.05),
        stage=stage, kafka_bootstrap=stack_endpoints.kafka_bootstrap_servers, sqs=sqs, s3_queues=queues,
    )
    runtime.start()
    assert runtime.wait_for_consumers(60), "MSK consumer never got its partitions"
    try:
        yield {"runtime": runtime, "dir": probe_dir, "url": f"http://127.0.0.1:{port}", "s3": s3,
               "bucket": template.buckets["ProbeBucket"], "stage": stage, "ep": stack_endpoints}
    finally:
        runtime.stop()


def http(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_http_request_becomes_an_api_gateway_proxy_event_for_the_matching_function(probe: dict[str, Any]) -> None:
    status, headers, body = http(probe["url"] + "/echo/caf%C3%A9?x=1&y=two")
    assert status == 200
    assert headers["X-Probe"] == "yes"
    seen = json.loads(body)
    assert seen["resource"] == "/echo/{name}"
    assert seen["resourcePath"] == "/echo/{name}"  # what Chalice routes on
    assert seen["pathParameters"] == {"name": "café"}
    assert seen["query"] == {"x": "1", "y": "two"}
    assert seen["stage"] == probe["stage"]
    assert 0 < seen["remaining_ms"] <= 10_000

    status, _, body = http(probe["url"] + "/items/a/b/c", method="POST", body=b'{"k": 1}')
    seen = json.loads(body)
    assert (status, seen["resource"], seen["method"]) == (200, "/items/{proxy+}", "POST")
    assert seen["pathParameters"] == {"proxy": "a/b/c"}
    assert json.loads(seen["body"]) == {"k": 1}


def test_unknown_route_and_wrong_method_get_json_errors(probe: dict[str, Any]) -> None:
    status, _, body = http(probe["url"] + "/nowhere")
    assert status == 404 and json.loads(body)["error"]["code"] == "route_not_found"
    status, _, body = http(probe["url"] + "/echo/x", method="DELETE")
    assert status == 405 and json.loads(body)["error"]["code"] == "method_not_allowed"
    status, _, body = http(probe["url"] + "/echo/x", method="TRACE")
    assert status == 405 and json.loads(body)["error"]["code"] == "method_not_allowed"


def test_function_over_its_timeout_is_killed_and_the_gateway_answers_502(probe: dict[str, Any]) -> None:
    status, _, body = http(probe["url"] + "/slow")
    assert status == 502
    assert "timed out" in json.loads(body)["error"]["message"]
    # the pool replaced the killed worker: the function still serves
    assert http(probe["url"] + "/echo/again")[0] == 200


def test_schedule_fires_at_the_local_rate(probe: dict[str, Any]) -> None:
    ticks = eventually("three schedule ticks",
                       lambda: (t := read_jsonl(probe["dir"] / "tick.jsonl")) and len(t) >= 3 and t,
                       timeout=30, every=0.2)
    assert ticks  # eventually returns the probe's first truthy value
    assert ticks[0] == {"detail-type": "Scheduled Event", "source": "aws.events"}


def test_object_put_reaches_the_s3_function_with_the_key_url_encoded_as_aws_sends_it(probe: dict[str, Any]) -> None:
    key = "in/course notes/résumé+1.txt"
    probe["s3"].put_object(Bucket=probe["bucket"], Key=key, Body=b"hello")
    probe["s3"].put_object(Bucket=probe["bucket"], Key="elsewhere/ignored.txt", Body=b"x")  # outside the prefix
    seen = eventually("the S3 function's invocation", lambda: read_jsonl(probe["dir"] / "upload.jsonl"), timeout=30,
                      every=0.2)
    from urllib.parse import unquote_plus

    assert len(seen) == 1
    assert seen[0]["eventName"].startswith("ObjectCreated:")
    assert seen[0]["bucket"] == probe["bucket"]
    assert seen[0]["key"] != key  # encoded on the wire ...
    assert unquote_plus(seen[0]["key"]) == key  # ... and decodes to the real key
    assert seen[0]["size"] == 5


def test_kafka_records_arrive_in_msk_shape_and_a_failing_record_is_retried_then_dead_lettered(
        probe: dict[str, Any]) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    stage = probe["stage"]
    producer = KafkaProducer(bootstrap_servers=probe["ep"].kafka_bootstrap_servers, acks="all")
    for i in range(6):
        value = "poison-pill" if i == 3 else f"ok-{i}"
        producer.send(f"probe.{stage}.in", key=b"k1", value=value.encode(), headers=[("h", b"v")])
    producer.flush()
    producer.close()

    def done() -> list[dict[str, Any]] | None:
        rows = read_jsonl(probe["dir"] / "stream.jsonl")
        oks = {r["value"] for r in rows if r["value"].startswith("ok")}
        poison = [r for r in rows if r["value"] == "poison-pill"]
        return rows if len(oks) == 5 and len(poison) >= 3 else None

    rows = eventually("the MSK function's records", done, timeout=60, every=0.2)
    assert rows is not None  # eventually returns the probe's first truthy value
    first = rows[0]
    assert first["tp"].startswith(f"probe.{stage}.in-") and first["key"] == "k1" and first["headers"] == {"h": "v"}
    poison = [r for r in rows if r["value"] == "poison-pill"]
    assert len(poison) == 3  # the first attempt + MaximumRetryAttempts (2)
    ok_deliveries = [r["value"] for r in rows if r["value"].startswith("ok")]
    assert sorted(ok_deliveries) == [f"ok-{i}" for i in range(6) if i != 3]  # each processed once

    consumer = KafkaConsumer(bootstrap_servers=probe["ep"].kafka_bootstrap_servers, consumer_timeout_ms=20000,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    consumer.assign([TopicPartition(f"probe.{stage}.dlq", 0)])
    dead = next(iter(consumer))
    consumer.close()
    headers = dict(dead.headers)
    assert dead.value == b"poison-pill"
    assert b"batchItemFailures" in headers["x-failure-reason"]
    assert headers["x-function"] == b"StreamFunction"
    assert headers["x-source-topic"] == f"probe.{stage}.in".encode()


def test_an_invocation_cut_short_by_the_runtimes_shutdown_is_not_a_function_failure(
        stage: str, tmp_path: Path) -> None:
    # A schedule trigger whose invocation is still running when the runtime stops (the relay runs
    # for most of its budget): close() kills the worker. That is reported as an interruption, not
    # as "failed: Runtime.ExitError ... code -9", and the trigger counts no failure.
    import threading

    from devstack.invoker import SHUTDOWN, FunctionPool, InvokeResult, function_env
    from devstack.triggers import ScheduleTrigger

    spec = tpl.load(PROBE_TEMPLATE, parameter_overrides={"Stage": stage}).functions["EchoFunction"]
    pool = FunctionPool(spec, function_env(spec, {"PROBE_DIR": str(tmp_path)}))
    slow = {"resource": "/slow", "httpMethod": "GET", "path": "/slow", "pathParameters": None,
            "queryStringParameters": None, "body": None, "requestContext": {"resourcePath": "/slow"}}
    running = threading.Event()
    pool.listeners.append(lambda phase, pid, event: running.set() if phase == "start" else None)

    class SlowTick(ScheduleTrigger):
        def scheduled_event(self) -> dict[str, Any]:
            return slow

    trigger = SlowTick(pool, tpl.ScheduleEvent("Tick", "rate(1 minute)", True))
    results: list[InvokeResult] = []
    invoke = pool.invoke

    def recording(event: Any, **kw: Any) -> InvokeResult:
        results.append(result := invoke(event, **kw))
        return result

    pool.invoke = recording  # type: ignore[method-assign]
    trigger.start()
    assert running.wait(30), "the slow invocation never started"
    trigger.stop()
    pool.close()  # as LocalRuntime.stop does once the triggers had their time to finish
    trigger.join(15)
    assert not trigger.is_alive()
    assert len(results) == 1 and results[0].interrupted and results[0].payload["errorType"] == SHUTDOWN
    assert "exited with code" in results[0].payload["errorMessage"]  # what happened to the worker, kept
    assert (trigger.invocations, trigger.failures) == (1, 0)

    # a function that fails on its own is still a failure
    pool = FunctionPool(spec, function_env(spec, {"PROBE_DIR": str(tmp_path)}))
    failing = ScheduleTrigger(pool, tpl.ScheduleEvent("Tick", "rate(1 minute)", True))
    result = pool.invoke(failing.scheduled_event())  # the echo handler has no "resource" in it
    pool.close()
    assert not result.ok and not result.interrupted
