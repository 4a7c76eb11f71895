-- Course assistant (issue 6): conversations, messages with the chunks each answer was built from,
-- learners' feedback, and the per-user rate-limit counters. Retrieval itself reads the chunks of
-- ai.live_chunk_sets (0041) and adds no table.

CREATE TABLE ai.conversations (
    id             uuid PRIMARY KEY,
    course_id      uuid NOT NULL,
    user_id        uuid NOT NULL,
    course_version integer,                          -- the live version when it started
    title          text NOT NULL DEFAULT '',         -- the first question, shortened
    message_count  integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_user_idx ON ai.conversations (user_id, course_id, updated_at DESC);
CREATE INDEX conversations_course_idx ON ai.conversations (course_id, updated_at DESC);

CREATE TABLE ai.messages (
    id                  uuid PRIMARY KEY,
    conversation_id     uuid NOT NULL REFERENCES ai.conversations (id) ON DELETE CASCADE,
    seq                 integer NOT NULL CHECK (seq >= 1),
    role                text NOT NULL CHECK (role IN ('user', 'assistant')),
    content             text NOT NULL,
    refused             boolean NOT NULL DEFAULT false,
    model               text,                        -- e.g. groq:llama-3.3-70b-versatile | extractive
    citations           jsonb NOT NULL DEFAULT '[]',
    retrieved_chunk_ids bigint[] NOT NULL DEFAULT '{}',  -- what retrieval returned, in rank order
    retrieval           jsonb NOT NULL DEFAULT '{}',     -- scores, evidence, timings
    course_version      integer,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (conversation_id, seq)
);
-- "What confused learners": refused answers per course, newest first (joined through conversations).
CREATE INDEX messages_refused_idx ON ai.messages (conversation_id) WHERE refused;

CREATE TABLE ai.message_feedback (
    message_id  uuid NOT NULL REFERENCES ai.messages (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL,
    helpful     boolean NOT NULL,
    comment     text CHECK (comment IS NULL OR length(comment) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, user_id)
);

-- Fixed-window counters: one row per (user, action, window start); old windows are pruned.
CREATE TABLE ai.assistant_rate_limits (
    user_id      uuid NOT NULL,
    action       text NOT NULL,
    window_start timestamptz NOT NULL,
    count        integer NOT NULL,
    PRIMARY KEY (user_id, action, window_start)
);
