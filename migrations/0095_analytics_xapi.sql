-- Learning analytics, part 2 (issue 18): certificates per learner and course, and the xAPI
-- statements the export serves. Written by AnalyticsFunction's consumer in the event's transaction
-- (with its processed_events row); every insert is ON CONFLICT DO NOTHING on the event, so a replay
-- adds nothing.

-- One row per certificate (certificate.issued / certificate.revoked; one Kafka key per
-- certificate, so they come in order). issued_event_id: the event whose statement a revocation voids.
CREATE TABLE analytics.certificates (
    certificate_id  uuid PRIMARY KEY,
    course_id       uuid NOT NULL,
    learner         uuid NOT NULL,
    issued_at       timestamptz NOT NULL,
    issued_event_id uuid NOT NULL,
    revoked_at      timestamptz
);
CREATE INDEX certificates_by_course ON analytics.certificates (course_id, learner);
CREATE INDEX certificates_by_learner ON analytics.certificates (learner);

-- One row per learning event an xAPI statement is made of: statement_id is the UUID v5 of the
-- event id (analytics.xapi.statement_id), so every export gives the same ids. `at` is the event's
-- own time (the statement's timestamp); the export pages on (course_id, at, statement_id).
CREATE TABLE analytics.statements (
    statement_id uuid PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    course_id    uuid NOT NULL,
    learner      uuid NOT NULL,
    verb         text NOT NULL CHECK (verb IN ('registered', 'progressed', 'completed', 'earned', 'voided')),
    lesson_id    uuid,               -- the object when it is a lesson (progressed)
    percent      smallint CHECK (percent BETWEEN 0 AND 100),
    voids        uuid,               -- voided: the statement it voids (a revoked certificate's 'earned')
    at           timestamptz NOT NULL
);
CREATE INDEX statements_by_course_time ON analytics.statements (course_id, at, statement_id);
CREATE INDEX statements_by_learner ON analytics.statements (learner);
