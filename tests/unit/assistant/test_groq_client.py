"""smartcourse.assistant.groq_client against the local fake Groq server, scripted reply by reply:
the request, retries and their waits, typed failures, connection reuse."""

from __future__ import annotations

import pytest

from smartcourse.assistant import groq_client as g
from tests.integration.assistant.fake_groq import Scripted, completion, fake_groq, free_port

MESSAGES = [("system", "rules"), ("user", "question")]


def client(url: str, *, max_retries: int = 0, timeout_s: float = 0.5, waits: list[float] | None = None) -> g.GroqClient:
    return g.GroqClient(api_key="secret", base_url=url, timeout_s=timeout_s, max_retries=max_retries,
                        sleep=(waits.append if waits is not None else lambda s: None))


def ask(c: g.GroqClient) -> g.Completion:
    return c.complete(model="llama-test", messages=MESSAGES, temperature=0.2, max_tokens=64)


def test_the_request_and_the_answer() -> None:
    with fake_groq(Scripted(200, completion("An answer [1].", prompt=11, completion=3))) as server:
        answer = ask(client(server.url + "/"))  # a trailing slash on the base URL is fine
    assert answer == g.Completion("An answer [1].", 11, 3)
    assert answer.usage == {"input_tokens": 11, "output_tokens": 3, "total_tokens": 14}
    (request,) = server.requests
    assert request.pop("_path") == "/openai/v1/chat/completions"
    assert request.pop("_authorization") == "Bearer secret"
    assert request == {"model": "llama-test", "temperature": 0.2, "max_tokens": 64,
                               "messages": [{"role": "system", "content": "rules"},
                                            {"role": "user", "content": "question"}]}


def test_one_connection_serves_every_request_and_a_closed_one_is_made_again() -> None:
    with fake_groq(Scripted(200, completion("a")), Scripted(200, completion("b"), close=True),
                   Scripted(200, completion("c"))) as server:
        c = client(server.url)
        assert [ask(c).content for _ in range(3)] == ["a", "b", "c"]
    assert len(server.requests) == 3 and len(server.connections) == 2


def test_a_connection_the_server_dropped_while_idle_is_made_again_without_a_retry() -> None:
    with fake_groq(Scripted(200, completion("a"), drop=True), Scripted(200, completion("b"))) as server:
        c = client(server.url, max_retries=0)
        assert ask(c).content == "a"
        assert ask(c).content == "b"  # the kept connection was closed: sent again on a new one
    assert len(server.requests) == 2 and len(server.connections) == 2


def test_passing_failures_are_tried_again_with_growing_waits() -> None:
    waits: list[float] = []
    with fake_groq(Scripted(503, {"error": {"message": "busy"}}), Scripted(500, {}),
                    Scripted(200, completion("ok"))) as server:
        assert ask(client(server.url, max_retries=2, waits=waits)).content == "ok"
    assert len(server.requests) == 3
    assert 0.375 <= waits[0] <= 0.5 and 0.75 <= waits[1] <= 1.0


def test_a_short_retry_after_is_waited_for_and_a_long_one_reported() -> None:
    waits: list[float] = []
    with fake_groq(Scripted(429, {"error": {"message": "tokens"}}, {"retry-after": "1.5"}),
                   Scripted(200, completion("ok"))) as server:
        assert ask(client(server.url, max_retries=1, waits=waits)).content == "ok"
    assert waits == [1.5]
    with fake_groq(Scripted(429, {"error": {"message": "tokens"}}, {"retry-after": "30"})) as server, \
            pytest.raises(g.RateLimited) as err:
        ask(client(server.url, max_retries=3))
    assert err.value.retry_after_s == 30.0 and len(server.requests) == 1


def test_failures_that_will_not_pass_are_not_tried_again() -> None:
    for status, kind in ((401, g.Rejected), (403, g.Rejected), (400, g.UpstreamError), (404, g.UpstreamError)):
        with fake_groq(Scripted(status, {"error": {"message": "no"}})) as server, pytest.raises(kind) as err:
            ask(client(server.url, max_retries=3))
        assert err.value.status == status and len(server.requests) == 1
        assert "no" in str(err.value)


def test_timeouts_and_unreachable_hosts_are_typed() -> None:
    with fake_groq(Scripted(200, completion("late"), delay_s=0.6)) as server, pytest.raises(g.Timeout):
        ask(client(server.url, timeout_s=0.2))
    with pytest.raises(g.Unreachable):
        ask(client(f"http://127.0.0.1:{free_port()}", max_retries=1))


def test_a_response_that_is_not_a_chat_completion_is_an_upstream_error() -> None:
    for body in ({}, {"choices": []}, {"choices": [{"message": {"content": None}}]}):
        with fake_groq(Scripted(200, body)) as server, pytest.raises(g.UpstreamError):
            ask(client(server.url))


def test_bad_configuration_and_roles_are_refused() -> None:
    with pytest.raises(ValueError, match="base URL"):
        g.GroqClient(api_key="k", base_url="ftp://example.com")
    with pytest.raises(ValueError, match="roles"):
        g.GroqClient(api_key="k").complete(model="m", messages=[("human", "x")], temperature=0.0, max_tokens=8)
