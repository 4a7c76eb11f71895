"""The LRS push's rules (analytics/lrs.py): which answers settle a statement, park it or stop the
push; refused batches split until the statement at fault is alone; the backoff; the credentials."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from smartcourse.analytics import lrs
from smartcourse.analytics.settings import AnalyticsSettings
from smartcourse.errors import ConfigurationError
from smartcourse.settings import load_settings


def statements(n: int) -> list[dict[str, Any]]:
    return [{"id": f"00000000-0000-5000-8000-{i:012d}"} for i in range(n)]


class Script:
    """A fake LRS: `answer(batch)` decides each POST; every batch sent is kept."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.sent: list[list[str]] = []

    def __call__(self, batch: Sequence[dict[str, Any]]) -> lrs.Answer:
        self.sent.append([s["id"] for s in batch])
        return self.answer([s["id"] for s in batch])  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, "accepted"),
        (204, "accepted"),
        (409, "duplicate"),
        (400, "rejected"),
        (413, "rejected"),
        (422, "rejected"),
        (None, "retry"),
        (500, "retry"),
        (503, "retry"),
        (429, "retry"),
        (408, "retry"),
        (401, "retry"),
        (403, "retry"),
        (404, "retry"),
        (301, "retry"),
        (307, "retry"),
    ],
)
def test_verdicts(status: int | None, verdict: str) -> None:
    assert lrs.verdict(status) == verdict


def test_an_accepted_batch_is_settled_in_one_request() -> None:
    post = Script(lambda ids: lrs.Answer(200))
    out = lrs.deliver(statements(5), post)
    assert (out.accepted, out.settled, out.requests, out.failure, out.parked) == (5, 5, 1, None, [])


def test_a_refused_batch_is_split_until_the_statement_at_fault_is_alone_and_parked() -> None:
    batch = statements(8)
    bad = batch[5]["id"]
    post = Script(lambda ids: lrs.Answer(400, "invalid verb") if bad in ids else lrs.Answer(200))
    out = lrs.deliver(batch, post)
    assert out.parked == [(bad, 400, "invalid verb")]
    assert (out.accepted, out.settled, out.failure) == (7, 8, None)
    assert out.requests == len(post.sent) <= 1 + 2 * 3  # a bisection, not one request per statement
    assert [bad] in post.sent and post.sent[0] == [s["id"] for s in batch]


def test_409_alone_is_already_there_and_409_for_a_batch_splits_it() -> None:
    batch = statements(4)
    have = {batch[1]["id"]}
    post = Script(lambda ids: lrs.Answer(409, "conflict") if have & set(ids) else lrs.Answer(200))
    out = lrs.deliver(batch, post)
    assert (out.accepted, out.duplicates, out.parked, out.settled) == (3, 1, [], 4)


def test_an_endpoint_failure_stops_and_keeps_what_was_settled_before_it() -> None:
    batch = statements(4)
    calls = iter([lrs.Answer(400, "bad"), lrs.Answer(200), lrs.Answer(503, "down for maintenance")])
    out = lrs.deliver(batch, Script(lambda ids: next(calls)))
    # [0..3] refused -> [0, 1] accepted -> [2, 3]: the endpoint fails: only the first half is settled
    assert (out.accepted, out.settled, out.parked) == (2, 2, [])
    assert out.failure == "503: down for maintenance"
    assert (
        lrs.deliver(batch, lambda ids: lrs.Answer(None, "URLError: refused")).failure == "no answer: URLError: refused"
    )
    assert lrs.deliver(batch, lambda ids: lrs.Answer(401)).settled == 0  # wrong credentials park nothing


def test_time_running_out_stops_between_requests_without_a_failure() -> None:
    left = iter([True, False])
    post = Script(lambda ids: lrs.Answer(400, "bad") if len(ids) > 1 else lrs.Answer(200))
    out = lrs.deliver(statements(4), post, lambda: next(left))
    assert out.out_of_time and out.failure is None and out.settled == 0 and len(post.sent) == 1


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [lrs.backoff_s(n, 60, 3600) for n in range(0, 9)] == [0, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert lrs.backoff_s(10_000, 60, 3600) == 3600


def test_credentials_from_a_secret_and_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert lrs.basic_credentials("key:secret") == "key:secret"
    assert lrs.basic_credentials('{"key": "k", "secret": "s:1"}') == "k:s:1"
    assert lrs.basic_credentials('{"username": "u", "password": "p"}') == "u:p"
    assert lrs.basic_credentials("no-colon") == lrs.basic_credentials('{"key": 1}') == ""
    assert lrs.statements_url("https://lrs.example/xapi/") == "https://lrs.example/xapi/statements"
    monkeypatch.setenv("ANALYTICS_PSEUDONYM_KEY", "k" * 32)
    monkeypatch.setenv("XAPI_LRS_URL", "")
    load_settings.cache_clear()
    try:
        assert load_settings(AnalyticsSettings).xapi_lrs_url is None  # empty: nothing is pushed
        monkeypatch.setenv("XAPI_LRS_URL", "https://lrs.example/xapi")
        monkeypatch.setenv("XAPI_LRS_CREDENTIALS", "only-a-key")
        load_settings.cache_clear()
        with pytest.raises(ConfigurationError, match="XAPI_LRS_CREDENTIALS") as err:
            load_settings(AnalyticsSettings)
        assert "only-a-key" not in str(err.value)
        monkeypatch.setenv("XAPI_LRS_CREDENTIALS", "key:secret")
        load_settings.cache_clear()
        assert "key:secret" not in repr(load_settings(AnalyticsSettings))
    finally:
        load_settings.cache_clear()
