"""Answer generation: ChatGroq through LangChain, or the extractive grounded answer (no key).

Both take the question and the retrieved passages (already judged sufficient) and return an
`Answer`. Groq failures are mapped by exception type to `DependencyUnavailable` (HTTP 503) with a
reason: rate_limited (and retry_after_s), timeout, unreachable, rejected, upstream_error.
"""

from __future__ import annotations

import functools
import html
import threading
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
    return [("system", system), ("human", body)]


class GroqGenerator:
    """ChatGroq (langchain-groq) with model, temperature, timeout and retries from settings.

    The client is made by the first `generate`, not here: importing langchain-groq (LangChain's
    core, the groq SDK, httpx) and making the client (two TLS contexts) took about 550 ms of a cold
    start, which a container's first search or refused question never needs (bench retrieval:
    AssistantFunction cold search with a Groq key, docs/benchmarks.md)."""

    def __init__(self, *, api_key: str, model: str, temperature: float, timeout_s: float, max_retries: int,
                 max_tokens: int, rrf_k: int, base_url: str | None = None, http_client: Any = None) -> None:
        self._options: dict[str, Any] = {"model": model, "api_key": api_key, "temperature": temperature,
                                         "timeout": timeout_s, "max_retries": max_retries, "max_tokens": max_tokens}
        if base_url:
            self._options["base_url"] = base_url
        if http_client is not None:
            self._options["http_client"] = http_client
        self._llm: Any = None
        self._lock = threading.Lock()
        self._model = model
        self.rrf_k = rrf_k

    def client(self) -> Any:
        """The ChatGroq client, made on first use (once per container)."""
        if self._llm is None:
            with self._lock:
                if self._llm is None:
                    from langchain_groq import ChatGroq

                    self._llm = ChatGroq(**self._options)
        return self._llm

    @property
    def model(self) -> str:
        return f"groq:{self._model}"

    def generate(self, question: str, question_vec: NDArray[np.float32], passages: Sequence[Passage],
                 history: Sequence[Turn]) -> Answer:
        messages = build_messages(question, passages, history)
        t0 = time.perf_counter()
        try:
            result = self.client().invoke(messages)
        except Exception as exc:
            mapped = _map_groq_error(exc)
            reason = mapped.extra.get("reason") if isinstance(mapped, DependencyUnavailable) else None
            count("LlmRateLimited" if reason == "rate_limited" else "LlmErrors")
            raise mapped from exc
        content = result.content if isinstance(result.content, str) else str(result.content)
        usage = dict(getattr(result, "usage_metadata", None) or {})
        usage["latency_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        measure("LlmLatency", usage["latency_ms"])
        count("LlmInputTokens", int(usage.get("input_tokens") or 0))
        count("LlmOutputTokens", int(usage.get("output_tokens") or 0))
        answer = domain.grounded_llm_answer(content, passages, self.model, self.rrf_k, usage,
                                            protected=(load_prompt()[0],))
        if "guard" in answer.usage:
            logger.warning("model answer withheld by the output guard", extra={"reason": answer.usage["guard"]})
        return answer


def _map_groq_error(exc: Exception) -> Exception:
    import groq

    if isinstance(exc, groq.RateLimitError):
        retry = exc.response.headers.get("retry-after") if exc.response is not None else None
        extra: dict[str, Any] = {"dependency": "llm", "reason": "rate_limited"}
        if retry and retry.replace(".", "", 1).isdigit():
            extra["retry_after_s"] = max(1, int(float(retry)))
        return DependencyUnavailable("the language model is rate limited; try again shortly", extra=extra)
    if isinstance(exc, groq.APITimeoutError):
        return DependencyUnavailable("the language model did not answer in time; try again",
                                     extra={"dependency": "llm", "reason": "timeout"})
    if isinstance(exc, groq.APIConnectionError):
        return DependencyUnavailable("the language model could not be reached; try again",
                                     extra={"dependency": "llm", "reason": "unreachable"})
    if isinstance(exc, (groq.AuthenticationError, groq.PermissionDeniedError)):
        return DependencyUnavailable("the language model refused our credentials",
                                     extra={"dependency": "llm", "reason": "rejected"})
    if isinstance(exc, groq.APIStatusError):
        return DependencyUnavailable("the language model failed; try again",
                                     extra={"dependency": "llm", "reason": "upstream_error",
                                            "upstream_status": exc.status_code})
    return exc
