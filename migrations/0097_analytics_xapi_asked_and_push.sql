-- Learning analytics, part 3 (issue 18): the `asked` xAPI statement and the optional push of every
-- statement to an external LRS, both driven by AnalyticsFunction's XapiSync schedule
-- (analytics/xapi_sync.py; docs/analytics.md, "xAPI export").

-- `asked`: a learner's question to the course assistant (ai.asked_questions, read through
-- readonly/ai_questions.py). Its event_id is the answer message's id (the question's key on the AI
-- side), so the statement id is the UUID v5 of it and a second reading adds nothing.
ALTER TABLE analytics.statements DROP CONSTRAINT statements_verb_check;
ALTER TABLE analytics.statements ADD CONSTRAINT statements_verb_check
    CHECK (verb IN ('registered', 'progressed', 'completed', 'earned', 'voided', 'asked'));

-- The transaction that inserted the row. The LRS push reads statements in (tx, statement_id) order
-- and only below pg_snapshot_xmin(pg_current_snapshot()): every transaction that could still commit
-- a lower one has ended, so a statement committed late is never skipped by the cursor (the event
-- time or a sequence value are not commit order). Re-keying on erasure does not change it.
ALTER TABLE analytics.statements ADD COLUMN tx xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX statements_by_tx ON analytics.statements (tx, statement_id);

-- Where the reading of ai.asked_questions is: the last question turned into a statement (or
-- skipped: an erased learner's). One row.
CREATE TABLE analytics.asked_cursor (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    asked_at   timestamptz NOT NULL,
    message_id uuid NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The push to an LRS, per endpoint (XAPI_LRS_URL + /statements: a new LRS starts from the first
-- statement). after_*: the last statement settled (accepted, already there, or parked).
-- failures/retry_at: consecutive failures of the endpoint and when to try again (backoff);
-- leased_until: one invocation pushes at a time.
CREATE TABLE analytics.xapi_push (
    endpoint     text PRIMARY KEY,
    after_tx     xid8 NOT NULL DEFAULT '0',
    after_id     uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    pushed       bigint NOT NULL DEFAULT 0,
    duplicates   bigint NOT NULL DEFAULT 0,
    parked       bigint NOT NULL DEFAULT 0,
    failures     integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    retry_at     timestamptz,
    last_error   text,
    leased_until timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Statements the LRS refused for good (a 4xx other than 409 for the statement alone), with the
-- LRS's status and reason. The statement itself stays in analytics.statements (nothing else is
-- copied here, so an erasure's re-keying reaches it).
CREATE TABLE analytics.xapi_push_parked (
    endpoint     text NOT NULL,
    statement_id uuid NOT NULL,
    status       integer NOT NULL,
    reason       text NOT NULL,
    parked_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (endpoint, statement_id)
);
