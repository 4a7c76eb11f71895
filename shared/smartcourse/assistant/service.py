"""One assistant request, end to end: access, rate limit, retrieval, grounding, answer, storage.

Transactions: (1) access check + rate-limit count (+ the course's latest published and live
versions), committed even when the request is then refused with 429; (2) a REPEATABLE READ,
read-only snapshot for the conversation, the live version and retrieval, so a course switching its
live chunk sets mid-request is seen entirely before or after; the model is called outside any
transaction; (3) the question and its answer are stored together, only once an answer exists: a
model failure (503) leaves nothing half-stored.

States (`states.py`): with nothing live the ask is refused (`indexing` or `not_published`) without
embedding or retrieval; while a newer published version is not live yet the live one answers and
a "not covered" refusal says `indexing`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from smartcourse.assistant import domain, gap_store, gaps, readiness, repository, states
from smartcourse.assistant import text as tx
from smartcourse.assistant.domain import Answer, Passage
from smartcourse.assistant.generation import Generator
from smartcourse.assistant.retrieval import Mode, Retrieval, Retriever
from smartcourse.assistant.schemas import MAX_QUESTION_CHARS
from smartcourse.assistant.settings import AssistantSettings
from smartcourse.auth import Principal
from smartcourse.db import Database
from smartcourse.errors import FieldProblem, Forbidden, NotFound, RateLimited, RuleViolated, ValidationFailed
from smartcourse.readonly import lms_access, lms_sessions
from smartcourse.readonly.lms_access import CourseAccess
from smartcourse.strings import check_line

MAX_SEARCH_CHARS = 500
MAX_COMMENT_CHARS = 2000


@dataclass(frozen=True)
class AskResult:
    body: dict[str, Any]
    refused: bool
    timings_ms: dict[str, float]


class AssistantService:
    def __init__(self, db: Database, retriever: Retriever, generator: Generator, settings: AssistantSettings) -> None:
        self.db = db
        self.retriever = retriever
        self.generator = generator
        self.settings = settings

    # ------------------------------------------------------------------ access and limits
    def require_session(self, principal: Principal) -> Principal:
        """401 unless the access token's session is live (`readonly.lms_sessions`)."""
        return lms_sessions.require_live(self.db, principal)

    @staticmethod
    def authorize(conn: psycopg.Connection[Any], principal: Principal, course_id: uuid.UUID) -> CourseAccess:
        access = lms_access.course_access(conn, course_id, principal.user_id)
        if access is None:
            raise NotFound("course not found")
        if principal.is_admin or access.instructor_id == principal.user_id or access.enrollment_status:
            return access
        raise Forbidden("only learners enrolled in this course, its instructor and admins may use its assistant")

    def _admit(self, principal: Principal, course_id: uuid.UUID, action: str,
               limit: int) -> tuple[CourseAccess, states.Versions]:
        with self.db.transaction() as conn:
            access = self.authorize(conn, principal, course_id)
            check = repository.hit_rate_limit(conn, principal.user_id, action, limit)
            versions = states.Versions(access.published_version, readiness.live_version(conn, course_id))
        if not check.allowed:
            raise RateLimited(f"too many {action} requests: at most {limit} a minute; retry in {check.retry_after_s} s",
                              extra={"retry_after_s": check.retry_after_s})
        return access, versions

    @contextmanager
    def _snapshot(self) -> Iterator[psycopg.Connection[Any]]:
        with self.db.transaction() as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield conn

    # ------------------------------------------------------------------ ask
    def ask(self, principal: Principal, course_id: uuid.UUID, question: str,
            conversation_id: uuid.UUID | None = None) -> AskResult:
        question = " ".join(question.split())
        if not question:
            raise ValidationFailed("the question is empty", details=[FieldProblem("question", "must not be empty")])
        if len(question) > MAX_QUESTION_CHARS:
            raise ValidationFailed("the question is too long", details=[FieldProblem(
                "question", f"at most {MAX_QUESTION_CHARS} characters")])
        t0 = time.perf_counter()
        access, versions = self._admit(principal, course_id, "ask", self.settings.ask_rate_limit_per_minute)
        early = states.refusal_before_retrieval(versions)  # nothing live: no embedding, no retrieval
        question_vec = None if early else self.retriever.embed_question(question)
        history: list[domain.Turn] = []
        retrieval: Retrieval | None = None
        with self._snapshot() as conn:
            if conversation_id is not None:
                conv = repository.get_conversation(conn, conversation_id)
                if conv is None or conv.user_id != principal.user_id or conv.course_id != course_id:
                    raise RuleViolated("conversation_id names no conversation of yours in this course", details=[
                        FieldProblem("conversation_id", "no conversation of yours in this course")])
                history = repository.recent_turns(conn, conversation_id, self.settings.history_turns)
            if question_vec is not None:
                # The live version in the retrieval's snapshot (a switch since admission counts).
                versions = states.Versions(versions.latest, readiness.live_version(conn, course_id))
                retrieval = self.retriever.retrieve(conn, course_id, question, self.settings.retrieval_top_k,
                                                    question_vec=question_vec,
                                                    per_asset=self.settings.passages_per_asset)
        t_gen = time.perf_counter()
        evidence: domain.Evidence | None = None
        if retrieval is None or question_vec is None:
            answer = domain.refusal(self.generator.model, early or domain.REASON_INDEXING)
        else:
            evidence = domain.assess_evidence(retrieval.passages, retrieval.terms,
                                              coverage_weight=self.settings.evidence_coverage_weight,
                                              threshold=self.settings.min_evidence)
            if evidence.sufficient:
                answer = self.generator.generate(question, question_vec, retrieval.passages, history)
            else:
                answer = domain.refusal(self.generator.model)
            answer = states.settle_refusal(answer, versions)
        timings = {**(retrieval.timings_ms if retrieval else {}), "generate": (time.perf_counter() - t_gen) * 1000}
        new = conversation_id is None
        conv_id = conversation_id or uuid.uuid4()
        citations = [c.as_dict() for c in answer.citations]
        with self.db.transaction() as conn:
            _, answer_id = repository.save_exchange(conn, repository.Exchange(
                conversation_id=conv_id, course_id=course_id, user_id=principal.user_id,
                course_version=retrieval.course_version if retrieval else None, question=question,
                answer=answer.text, refused=answer.refused, model=answer.model,
                citations=[{**c, "chunk_id": a.chunk_id} for c, a in zip(citations, answer.citations, strict=True)],
                retrieved_chunk_ids=retrieval.chunk_ids if retrieval else [],
                retrieval=_retrieval_record(retrieval, evidence, answer, versions, timings),
            ), new_conversation=new)
            asked = _asked_question(principal, access, course_id, question, answer_id, answer, retrieval, evidence,
                                    self.settings.min_evidence)
            if asked is not None:
                gap_store.record_question(conn, asked)
        timings["total"] = (time.perf_counter() - t0) * 1000
        body = {"answer": answer.text, "citations": citations, "conversation_id": str(conv_id),
                "message_id": str(answer_id), "model": answer.model, "refused": answer.refused,
                "reason": answer.reason if answer.refused else None}
        return AskResult(body, answer.refused, timings)

    # ------------------------------------------------------------------ search
    def search(self, principal: Principal, course_id: uuid.UUID, q: str, limit: int = 10,
               mode: Mode = "hybrid") -> dict[str, Any]:
        q = " ".join(q.split())
        problems = []
        if not q:
            problems.append(FieldProblem("q", "must not be empty"))
        elif len(q) > MAX_SEARCH_CHARS:
            problems.append(FieldProblem("q", f"at most {MAX_SEARCH_CHARS} characters"))
        else:
            try:
                check_line(q)
            except ValueError as exc:
                problems.append(FieldProblem("q", str(exc)))
        if not 1 <= limit <= 50:
            problems.append(FieldProblem("limit", "must be between 1 and 50"))
        if problems:
            raise ValidationFailed("the search request is not valid", details=problems)
        _, versions = self._admit(principal, course_id, "search", self.settings.search_rate_limit_per_minute)
        if versions.live is None:  # nothing to search yet; `state` says why
            return {"items": [], "state": versions.state}
        question_vec = self.retriever.embed_question(q)
        with self._snapshot() as conn:
            retrieval = self.retriever.retrieve(conn, course_id, q, limit, mode=mode, question_vec=question_vec,
                                                per_asset=1)
        items = [search_item(q, p, self.settings.rrf_k) for p in domain.search_results(retrieval.passages)]
        return {"items": items, "state": versions.state}

    # ------------------------------------------------------------------ status
    def status(self, principal: Principal, course_id: uuid.UUID) -> dict[str, Any]:
        """The course's assistant state: its latest published version, the live one, and the
        indexing status of the latest version's documents. Read-only, no rate limit."""
        with self._snapshot() as conn:
            self.authorize(conn, principal, course_id)
            latest = lms_access.latest_published_version(conn, course_id)
            live = readiness.live_version(conn, course_id)
            statuses = readiness.document_statuses(conn, latest.asset_ids) if latest is not None else []
        versions = states.Versions(latest.version if latest is not None else None, live)
        return {"live_version": versions.live, "latest_version": versions.latest, "state": versions.state,
                "documents": states.count_documents(statuses).as_dict()}

    # ------------------------------------------------------------------ conversations and feedback
    def conversation(self, principal: Principal, course_id: uuid.UUID, conversation_id: uuid.UUID) -> dict[str, Any]:
        with self.db.transaction() as conn:
            access = self.authorize(conn, principal, course_id)
            conv = repository.get_conversation(conn, conversation_id)
            reader_ok = conv is not None and conv.course_id == course_id and (
                conv.user_id == principal.user_id or principal.is_admin
                or access.instructor_id == principal.user_id)
            if conv is None or not reader_ok:
                raise NotFound("conversation not found")
            messages = repository.list_messages(conn, conversation_id)
        return {
            "conversation_id": str(conv.id), "course_id": str(conv.course_id),
            "user_id": str(conv.user_id), "title": conv.title,
            "created_at": conv.created_at.isoformat(), "updated_at": conv.updated_at.isoformat(),
            "messages": [{
                "message_id": str(m.id), "role": m.role, "content": m.content, "refused": m.refused,
                "reason": m.reason,
                "model": m.model, "citations": [_public_citation(c) for c in m.citations or []],
                "created_at": m.created_at.isoformat(),
                "feedback": None if m.helpful is None else {"helpful": m.helpful, "comment": m.comment},
            } for m in messages],
        }

    def feedback(self, principal: Principal, course_id: uuid.UUID, conversation_id: uuid.UUID,
                 message_id: uuid.UUID, helpful: bool, comment: str | None) -> dict[str, Any]:
        if comment is not None:
            comment = comment.strip() or None
        if comment is not None and len(comment) > MAX_COMMENT_CHARS:
            raise ValidationFailed("the comment is too long",
                                   details=[FieldProblem("comment", f"at most {MAX_COMMENT_CHARS} characters")])
        with self.db.transaction() as conn:
            self.authorize(conn, principal, course_id)
            conv = repository.get_conversation(conn, conversation_id)
            if conv is None or conv.course_id != course_id or conv.user_id != principal.user_id:
                raise NotFound("conversation not found")
            role = repository.message_role(conn, conversation_id, message_id)
            if role is None:
                raise NotFound("message not found")
            if role != "assistant":
                raise ValidationFailed("feedback applies to the assistant's answers",
                                       details=[FieldProblem("message_id", "is a question, not an answer")])
            row = repository.upsert_feedback(conn, message_id, principal.user_id, helpful, comment)
        return {"message_id": str(row.message_id), "helpful": row.helpful, "comment": row.comment,
                "updated_at": row.updated_at.isoformat()}


def _asked_question(principal: Principal, access: CourseAccess, course_id: uuid.UUID, question: str,
                    answer_id: uuid.UUID, answer: Answer, retrieval: Retrieval | None,
                    evidence: domain.Evidence | None, min_evidence: float) -> gap_store.AskedQuestion | None:
    """What analytics keeps of a learner's question (the funnel's `questions_asked`, content gaps):
    a question of an enrolled learner (not the course's instructor) judged against a live version."""
    learner = access.enrollment_status is not None and access.instructor_id != principal.user_id
    if not learner or retrieval is None or evidence is None or retrieval.course_version is None:
        return None
    gap = gaps.gap_kind(evidence, refused=answer.refused, reason=answer.reason, min_evidence=min_evidence)
    best = retrieval.passages[0].lesson_id if retrieval.passages else None
    return gap_store.AskedQuestion(
        message_id=answer_id, course_id=course_id, course_version=retrieval.course_version,
        user_id=principal.user_id, question=question, lesson_id=best, evidence=round(evidence.score, 4), gap=gap,
        embedding=retrieval.question_vec)


def _public_citation(c: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in c.items() if k != "chunk_id"}


def _retrieval_record(r: Retrieval | None, evidence: domain.Evidence | None, answer: Answer,
                      versions: states.Versions, timings: dict[str, float]) -> dict[str, Any]:
    """What the answer was drawn from (None: refused before retrieval, nothing was live)."""
    return {
        "reason": answer.reason if answer.refused else None,
        "state": versions.state, "latest_version": versions.latest, "live_version": versions.live,
        "evidence": evidence.as_dict() if evidence is not None else None,
        "chunk_sets": r.chunk_sets if r is not None else 0,
        "passages": [{"chunk_id": p.chunk_id, "asset_id": str(p.asset_id), "similarity": round(p.similarity, 4),
                      "fused": round(p.fused, 6), "vector_rank": p.vector_rank, "text_rank": p.text_rank}
                     for p in (r.passages if r is not None else [])],
        "usage": answer.usage,
        "timings_ms": {k: round(v, 1) for k, v in timings.items()},
    }


def search_item(q: str, p: Passage, rrf_k: int) -> dict[str, Any]:
    q_terms = tx.term_set(q)
    best, best_cov = "", -1.0
    for s in tx.sentences(p.body):
        cov = tx.coverage(q_terms, tx.terms(s))
        if cov > best_cov:
            best, best_cov = s, cov
    return {"asset_id": str(p.asset_id), "lesson_id": str(p.lesson_id) if p.lesson_id else None,
            "title": p.display_title, "location": p.location, "snippet": tx.shorten(best or p.body, 240),
            "score": domain.passage_score(p, rrf_k)}
