-- Content gaps (issue 18): every learner's question the assistant retrieved for, and the clusters
-- of the questions it refused for lack of coverage or answered with weak support. Written by
-- AssistantFunction (in the transaction that stores the answer) and re-checked by IngestFunction
-- when a version goes live; AnalyticsFunction reads them through readonly/ai_questions.py only.
-- docs/analytics.md, "Content gaps".

CREATE TABLE ai.gap_clusters (
    id              uuid PRIMARY KEY,
    course_id       uuid NOT NULL,
    centroid        vector(384) NOT NULL,            -- the sum of its questions' embeddings (cosine ignores length)
    questions       integer NOT NULL DEFAULT 0 CHECK (questions >= 0),
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'covered')),
    checked_version integer NOT NULL,                -- the latest live version its questions were tested on
    covered_version integer,                         -- the live version whose material covers it
    covered_at      timestamptz,
    covered_lesson_id uuid,                          -- the lesson of the best passage when re-asked
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'covered') = (covered_version IS NOT NULL))
);
CREATE INDEX gap_clusters_open_idx ON ai.gap_clusters (course_id) WHERE status = 'open';

-- One row per learner's question answered or refused after retrieval (the answer message is the
-- key: a deleted conversation takes its rows with it, so an account deletion erases them).
CREATE TABLE ai.asked_questions (
    message_id      uuid PRIMARY KEY REFERENCES ai.messages (id) ON DELETE CASCADE,
    course_id       uuid NOT NULL,
    course_version  integer NOT NULL,                -- the live version it was retrieved from
    user_id         uuid NOT NULL,                   -- never leaves the AI side: counted, not shown
    question        text NOT NULL,
    lesson_id       uuid,                            -- the lesson of the best retrieved passage
    evidence        real NOT NULL,                   -- domain.assess_evidence's score
    gap             text CHECK (gap IN ('not_covered', 'weak')),
    embedding       vector(384),                     -- kept for gap questions only (re-asking)
    cluster_id      uuid REFERENCES ai.gap_clusters (id) ON DELETE SET NULL,
    asked_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX asked_questions_lesson_idx ON ai.asked_questions (course_id, lesson_id);
CREATE INDEX asked_questions_cluster_idx ON ai.asked_questions (cluster_id) WHERE cluster_id IS NOT NULL;
