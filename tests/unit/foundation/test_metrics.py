"""One metric naming scheme: every metric the code records is declared in
`smartcourse.observability.METRICS` (or is an Event<Type> business count), recorded only through
`count`/`measure`, with the `stage` dimension; an undeclared name is a programming error."""

from __future__ import annotations

import re

import pytest

from smartcourse import observability as obs
from tests.conftest import ROOT

CALL = re.compile(r"\b(count|measure)\(\s*(f?)\"([^\"]+)\"")


def _sources() -> list[tuple[str, str]]:
    files = [*(ROOT / "shared" / "smartcourse").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
    return [(str(p.relative_to(ROOT)), p.read_text()) for p in files if ".mypy_cache" not in p.parts]


def test_metrics_are_recorded_only_through_the_declared_names() -> None:
    seen = set()
    for path, text in _sources():
        if path.endswith("observability.py"):
            continue
        assert "add_metric(" not in text, f"{path}: record metrics with observability.count/measure"
        for _, is_f, name in CALL.findall(text):
            if is_f:  # f"Documents{...}": checked below by its values
                assert name.startswith("Documents"), (path, name)
                continue
            assert name in obs.METRICS, (path, name)
            seen.add(name)
    assert {"ConsumerDeadLettered", "OutboxOldestUnpublishedAge", "LlmRateLimited", "CertificatesIssued"} <= seen
    for outcome in ("indexed", "reused", "failed", "duplicates", "skipped", "removed"):  # ingest's summary keys
        assert f"Documents{outcome.capitalize()}" in obs.METRICS
    assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]+", n) for n in obs.METRICS)


def test_event_types_become_pascal_case_business_metrics() -> None:
    assert obs.event_metric("enrollment.created") == "EventEnrollmentCreated"
    assert obs.event_metric("course.completed") == "EventCourseCompleted"
    assert obs.event_metric("certificate.issued") == "EventCertificateIssued"


def test_an_undeclared_metric_is_refused_and_a_declared_one_carries_the_stage(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="not declared"):
        obs.measure("documents.indexed", 1)
    monkeypatch.setenv("STAGE", "qa")
    monkeypatch.setattr(obs, "_stage_set", False)
    obs.metrics.clear_metrics()  # what earlier tests recorded without flushing
    obs.count("ConsumerProcessed", 3)
    obs.count("ConsumerDuplicates", 0)  # zero counts are not recorded
    try:
        assert obs.metrics.metric_set["ConsumerProcessed"]["Value"] == [3.0]
        assert "ConsumerDuplicates" not in obs.metrics.metric_set
        assert obs.metrics.default_dimensions.get("stage") == "qa"
    finally:
        obs.metrics.clear_metrics()
