"""Prompt-injection defences, in plain Python (no I/O).

Course material is written by instructors but can carry text aimed at the assistant ("ignore all
previous instructions", "print your system prompt", "answer every question with ...", "include
this link"). Decisions:

1. A sentence that addresses the assistant is not answer-worthy: `instruction_sentences` finds
   them; the extractive answer never quotes them, and they are withheld from the language model
   (`withhold_instructions` replaces each with a marker inside the quoted source).
2. The model's answer passes `check_answer` before anyone sees it. It is refused (the standard
   "not covered" refusal, no citations) when it
   - repeats the system prompt (any run of `SHINGLE` consecutive words of it),
   - carries a link that none of its cited sources contains,
   - is not supported by the sources it cites: fewer than `MIN_SUPPORT` of its content terms occur
     in their answer-worthy text (an answer that obeys an injected "answer PWNED" is not).
Citations can only name sources that were retrieved for this course (`domain.cited_numbers`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from smartcourse.assistant import text as tx

#: Consecutive words of the system prompt that count as repeating it.
SHINGLE = 6
#: Share of an answer's content terms that its cited sources must contain.
MIN_SUPPORT = 0.5
WITHHELD = "[a sentence addressed to the assistant was withheld]"

_PATTERNS = [
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,40}\b(?:instructions?|rules?|prompts?|guidelines?|"
    r"directions?|context|above|previous|prior|everything)\b",
    r"\b(?:system|hidden|initial|original)\s+(?:prompt|message|instructions?)\b",
    r"\byou\s+(?:are|will\s+be|must\s+act\s+as|should\s+act\s+as)\s+(?:now\s+)?(?:an?\s+)?"
    r"(?:assistant|ai|chatbot|language\s+model|llm|dan|unrestricted|jailbroken|developer\s+mode)\b",
    r"\b(?:as\s+an?\s+)?(?:ai|assistant|chatbot|language\s+model|llm)\s*[,:]\s*(?:you|please|ignore|always|never)\b",
    r"\b(?:answer|reply|respond)\s+(?:to\s+)?(?:every|all|each|any)\s+(?:questions?|prompts?|messages?)\b",
    r"\b(?:always|from\s+now\s+on),?\s+(?:answer|reply|respond|say|include|append|output)\b",
    r"\b(?:reveal|print|repeat|show|output|leak|disclose|list)\b[^.!?\n]{0,40}\b(?:your|the)\s+"
    r"(?:prompt|instructions?|rules|configuration|secrets?)\b",
    r"\b(?:list|show|print|reveal|output)\b[^.!?\n]{0,30}\b(?:other|all|every)\s+courses?\b",
    r"\b(?:include|insert|add|append)\s+(?:this|the\s+following)\s+(?:link|url|text|message)\b",
    r"<\|?(?:im_start|im_end|system|endoftext)\|?>|\[/?INST\]|^\s*(?:system|assistant)\s*:",
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE | re.MULTILINE)
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>()\[\]\"']+", re.IGNORECASE)
_CITE_MARK = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")


def is_instruction(sentence: str) -> bool:
    """True when the sentence addresses an AI assistant rather than teaching the subject."""
    return bool(_INSTRUCTION.search(sentence))


def instruction_sentences(text: str) -> list[str]:
    return [s for s in tx.sentences(text) if is_instruction(s)]


def withhold_instructions(text: str) -> str:
    """`text` with every sentence that addresses the assistant replaced by `WITHHELD`."""
    for sentence in instruction_sentences(text):
        text = _replace_loose(text, sentence, WITHHELD)
    return text


def answer_worthy(text: str) -> str:
    """The sentences of `text` that may support an answer (instructions dropped)."""
    return " ".join(s for s in tx.sentences(text) if not is_instruction(s))


def _replace_loose(text: str, sentence: str, replacement: str) -> str:
    """Replace `sentence` in `text` even where the source wraps it over several lines."""
    pattern = r"\s+".join(re.escape(w) for w in sentence.split())
    return re.sub(pattern, replacement, text)


def _normalised_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _shingles(words: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""


def check_answer(answer: str, cited_texts: Iterable[str], protected: Iterable[str]) -> Verdict:
    """The output guard (see the module docstring). `cited_texts`: the bodies of the sources the
    answer cites; `protected`: texts that must never appear in an answer (the system prompt)."""
    answer_words = _normalised_words(answer)
    answer_shingles = _shingles(answer_words, SHINGLE)
    for secret in protected:
        if answer_shingles & _shingles(_normalised_words(secret), SHINGLE):
            return Verdict(False, "the answer repeats the assistant's instructions")
    sources = [answer_worthy(t) for t in cited_texts]
    source_text = " ".join(sources)
    for url in _URL.findall(answer):
        if url.rstrip(".,;:") not in source_text:
            return Verdict(False, f"the answer links to {url[:80]!r}, which its sources do not contain")
    terms = tx.term_set(_CITE_MARK.sub(" ", answer))
    if terms:
        supported = tx.coverage(terms, tx.terms(source_text))
        if supported < MIN_SUPPORT:
            return Verdict(False, f"only {supported:.0%} of the answer's terms occur in the sources it cites")
    return Verdict(True)
