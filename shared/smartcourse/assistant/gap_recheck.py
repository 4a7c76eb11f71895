"""Re-asking content gaps when a course version goes live (IngestFunction, in the transaction that
switches the live chunk sets: `IngestionService(after_live=...)`).

For each open cluster of the course not yet tested on the new version (most asked first, at most
`gaps.RECHECK_MAX_CLUSTERS`), its `gaps.RECHECK_QUESTIONS` questions nearest the centroid are asked
again: retrieval over the new live version and the evidence test, as an answer would be judged; no
answer is generated and nothing is embedded (the questions' embeddings are stored). The cluster
turns `covered` (with the version, the time and the best passage's lesson) when more than half of
them are covered; otherwise it stays open, tested on that version. Running it again for the same
version finds nothing to do (idempotent: replays, the sweeper's `make_live`)."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import psycopg

from smartcourse.assistant import domain, gap_store, gaps
from smartcourse.assistant.retrieval import Retriever
from smartcourse.assistant.settings import RetrievalSettings
from smartcourse.observability import logger


@dataclass(frozen=True)
class RecheckOutcome:
    checked: int
    covered: int


class GapRechecker:
    def __init__(self, retriever: Retriever, settings: RetrievalSettings) -> None:
        self.retriever = retriever
        self.settings = settings

    def __call__(self, conn: psycopg.Connection[Any], course_id: uuid.UUID, version: int) -> RecheckOutcome:
        return self.recheck(conn, course_id, version)

    def recheck(self, conn: psycopg.Connection[Any], course_id: uuid.UUID, version: int) -> RecheckOutcome:
        s = self.settings
        checked = covered = 0
        for cluster_id in gap_store.clusters_to_recheck(conn, course_id, version, gaps.RECHECK_MAX_CLUSTERS):
            results: list[bool] = []
            lessons: Counter[uuid.UUID] = Counter()
            for question, vector in gap_store.representatives(conn, cluster_id, gaps.RECHECK_QUESTIONS):
                r = self.retriever.retrieve(conn, course_id, question, s.retrieval_top_k, question_vec=vector,
                                            per_asset=s.passages_per_asset)
                evidence = domain.assess_evidence(r.passages, r.terms, coverage_weight=s.evidence_coverage_weight,
                                                  threshold=s.min_evidence)
                ok = gaps.covered_now(evidence, s.min_evidence)
                results.append(ok)
                if ok and r.passages and r.passages[0].lesson_id is not None:
                    lessons[r.passages[0].lesson_id] += 1
            lesson = min(lessons, key=lambda x: (-lessons[x], str(x))) if lessons else None
            turned = gap_store.mark_checked(conn, cluster_id, version, covered=gaps.cluster_covered(results),
                                            lesson_id=lesson)
            checked += 1
            covered += int(turned)
        if checked:
            logger.info("content gaps re-asked on the new live version",
                        extra={"course_id": str(course_id), "version": version, "clusters": checked,
                               "covered": covered})
        return RecheckOutcome(checked, covered)
