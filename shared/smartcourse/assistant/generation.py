"""Answer generation: Groq's chat completions, or the extractive grounded answer (no key).

Both take the question and the retrieved passages (already judged sufficient) and return an
`Answer`. Groq failures are mapped by exception type to `DependencyUnavailable` (HTTP 503) with a
reason: rate_limited (and retry_after_s), timeout, unreachable, rejected, upstream_error.
"""

from __future__ import annotations

import functools
import html
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from smartcourse.assistant import domain, guard
from smartcourse.assistant.domain import Answer, EmbedFn, Passage, Turn
from smartcourse.errors import DependencyUnavailable
from smartcourse.observability import count, logger, measure

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from smartcourse.assistant.groq_client import GroqError

PROMPT_PATH = Path(__file__).with_name("prompts") / "answer.md"


class Generator(Protocol):
    @property
    def model(self) -> str: ...

    def generate(self, question: str, question_vec: NDArray[np.float32], passages: Sequence[Passage],
                 history: Sequence[Turn]) -> Answer: ...


class ExtractiveGenerator:
    def __init__(self, embed: EmbedFn, *, max_sentences: int, rrf_k: int) -> None:
        self._embed = embed
        self.max_sentences = max_sentences
        self.rrf_k = rrf_k

    @property
    def model(self) -> str:
        return domain.EXTRACTIVE_MODEL

    def generate(self, question: str, question_vec: NDArray[np.float32], passages: Sequence[Passage],
                 history: Sequence[Turn]) -> Answer:
        return domain.extractive_answer(question, question_vec, passages, self._embed,
                                        max_sentences=self.max_sentences, rrf_k=self.rrf_k)


@functools.cache
def load_prompt(path: Path = PROMPT_PATH) -> tuple[str, str]:
    """(system message, user template) from the prompt file."""
    raw = path.read_text(encoding="utf-8")
    if "-->" in raw:
        raw = raw.split("-->", 1)[1]
    head, sep, user = raw.partition("\n# user\n")
    if not sep or "# system\n" not in head:
        raise ValueError(f"{path} must have a '# system' and a '# user' part")
    return head.split("# system\n", 1)[1].strip(), user.strip()


def _attr(value: Any) -> str:
    return html.escape(str(value), quote=True)


def format_sources(passages: Sequence[Passage]) -> str:
    """Each passage as quoted data: attribute values and text escaped, so text cannot close the tag;
    sentences addressed to the assistant are withheld (`guard.withhold_instructions`)."""
    parts = []
    for n, p in enumerate(passages, start=1):
        loc = ", ".join(f"{k}={v}" for k, v in p.location.items())
        parts.append(f'<source n="{n}" title="{_attr(p.display_title)}" location="{_attr(loc)}">\n'
                     f"{html.escape(guard.withhold_instructions(p.body), quote=False)}\n</source>")
    return "\n\n".join(parts)


def format_history(history: Sequence[Turn]) -> str:
    lines = []
    for m in history:
        if m.refused:
            continue
        who = "Learner" if m.role == "user" else "Assistant"
        lines.append(f"{who}: {html.escape(m.content, quote=False)}")
    if not lines:
        return ""
    return "Earlier in this conversation (context only):\n<history>\n" + "\n".join(lines) + "\n</history>\n\n"


def build_messages(question: str, passages: Sequence[Passage],
                   history: Sequence[Turn]) -> list[tuple[str, str]]:
    system, user = load_prompt()
    body = user.format(history=format_history(history), sources=format_sources(passages),
                       question=html.escape(question, quote=False))
    return [("system", system), ("user", body)]


class GroqGenerator:
    """Groq's chat completions (`smartcourse.assistant.groq_client`) with model, temperature,
    timeout and retries from settings."""

    def __init__(self, *, api_key: str, model: str, temperature: float, timeout_s: float, max_retries: int,
                 max_tokens: int, rrf_k: int, base_url: str | None = None) -> None:
        from smartcourse.assistant.groq_client import GroqClient

        self._client = GroqClient(api_key=api_key, base_url=base_url, timeout_s=timeout_s, max_retries=max_retries)
        self._model = model
        self._temperature = temperature
        self._max_tokens = max_tokens
        self.rrf_k = rrf_k

    @property
    def model(self) -> str:
        return f"groq:{self._model}"

    def generate(self, question: str, question_vec: NDArray[np.float32], passages: Sequence[Passage],
                 history: Sequence[Turn]) -> Answer:
        from smartcourse.assistant.groq_client import GroqError

        messages = build_messages(question, passages, history)
        t0 = time.perf_counter()
        try:
            result = self._client.complete(model=self._model, messages=messages, temperature=self._temperature,
                                           max_tokens=self._max_tokens)
        except GroqError as exc:
            mapped = _map_groq_error(exc)
            count("LlmRateLimited" if mapped.extra.get("reason") == "rate_limited" else "LlmErrors")
            raise mapped from exc
        usage: dict[str, Any] = dict(result.usage)
        usage["latency_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        measure("LlmLatency", usage["latency_ms"])
        count("LlmInputTokens", result.input_tokens)
        count("LlmOutputTokens", result.output_tokens)
        answer = domain.grounded_llm_answer(result.content, passages, self.model, self.rrf_k, usage,
                                            protected=(load_prompt()[0],))
        if "guard" in answer.usage:
            logger.warning("model answer withheld by the output guard", extra={"reason": answer.usage["guard"]})
        return answer


def _map_groq_error(exc: GroqError) -> DependencyUnavailable:
    """A failed chat completion as the 503 the API returns, by the failure's type."""
    from smartcourse.assistant import groq_client as g

    if isinstance(exc, g.RateLimited):
        extra: dict[str, Any] = {"dependency": "llm", "reason": "rate_limited"}
        if exc.retry_after_s is not None:
            extra["retry_after_s"] = max(1, int(exc.retry_after_s))
        return DependencyUnavailable("the language model is rate limited; try again shortly", extra=extra)
    if isinstance(exc, g.Timeout):
        return DependencyUnavailable("the language model did not answer in time; try again",
                                     extra={"dependency": "llm", "reason": "timeout"})
    if isinstance(exc, g.Unreachable):
        return DependencyUnavailable("the language model could not be reached; try again",
                                     extra={"dependency": "llm", "reason": "unreachable"})
    if isinstance(exc, g.Rejected):
        return DependencyUnavailable("the language model refused our credentials",
                                     extra={"dependency": "llm", "reason": "rejected"})
    status = exc.status if isinstance(exc, g.UpstreamError) else None
    return DependencyUnavailable("the language model failed; try again",
                                 extra={"dependency": "llm", "reason": "upstream_error",
                                        **({"upstream_status": status} if status is not None else {})})
