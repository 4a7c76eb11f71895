-- Learning analytics (issue 18): AnalyticsFunction's own schema. Incremental rollups written by its
-- consumer (one transaction per event, with its processed_events row) and by the time-on-task
-- heartbeat; read by its reporting routes. Learners appear only under pseudonymous ids (`learner`:
-- HMAC-SHA256 of the user id with the deployment's analytics key, first 16 bytes, as a uuid); names
-- are joined at read time from the LMS (readonly/lms_roster.py), never stored here.
CREATE SCHEMA IF NOT EXISTS analytics;

CREATE TABLE analytics.processed_events (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE TABLE analytics.consumer_failures (LIKE lms.consumer_failures INCLUDING ALL);

-- One row per course seen in a course.published event (its latest title and instructor).
CREATE TABLE analytics.courses (
    course_id      uuid PRIMARY KEY,
    instructor_id  uuid NOT NULL,
    title          text NOT NULL,
    latest_version integer NOT NULL CHECK (latest_version >= 1)
);

-- Per course: live enrolments and completions, kept by deltas of each learner's transition
-- (analytics.domain.course_delta; a separate row, as enrolment events may come before the
-- course's publish event: another topic). updated_at: when the course's rollups last changed.
CREATE TABLE analytics.course_stats (
    course_id  uuid PRIMARY KEY,
    enrolled   integer NOT NULL DEFAULT 0 CHECK (enrolled >= 0),
    completed  integer NOT NULL DEFAULT 0 CHECK (completed >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Each published version's lessons in reading order (the completion basis of its learners).
CREATE TABLE analytics.version_lessons (
    course_id uuid NOT NULL,
    version   integer NOT NULL,
    lesson_id uuid NOT NULL,
    ordinal   integer NOT NULL,
    title     text NOT NULL,
    required  boolean NOT NULL,
    PRIMARY KEY (course_id, version, lesson_id)
);

-- Per learner per course: the roster, percent, pace and activity.
CREATE TABLE analytics.learners (
    course_id      uuid NOT NULL,
    learner        uuid NOT NULL,
    enrollment_id  uuid,              -- the LMS enrolment (names are joined through it); NULL once erased
    course_version integer NOT NULL,
    enrolled_at    timestamptz NOT NULL,
    cancelled_at   timestamptz,
    completed_at   timestamptz,
    started_at     timestamptz,       -- first lesson activity (a heartbeat or a completed lesson)
    last_active_at timestamptz NOT NULL,
    percent        smallint NOT NULL DEFAULT 0 CHECK (percent BETWEEN 0 AND 100),
    PRIMARY KEY (course_id, learner)
);
CREATE INDEX learners_enrolled ON analytics.learners (course_id, enrolled_at, learner);
CREATE INDEX learners_active ON analytics.learners (course_id, last_active_at, learner);
CREATE INDEX learners_percent ON analytics.learners (course_id, percent, learner);
CREATE INDEX learners_by_learner ON analytics.learners (learner);
CREATE INDEX learners_by_enrollment ON analytics.learners (enrollment_id);

-- Per lesson per learner: started, completed, minutes on task.
CREATE TABLE analytics.lesson_learners (
    course_id    uuid NOT NULL,
    lesson_id    uuid NOT NULL,
    learner      uuid NOT NULL,
    started_at   timestamptz NOT NULL,
    completed_at timestamptz,
    minutes      integer NOT NULL DEFAULT 0 CHECK (minutes >= 0),
    PRIMARY KEY (course_id, lesson_id, learner)
);
CREATE INDEX lesson_learners_by_learner ON analytics.lesson_learners (learner);

-- Per lesson: the funnel's counters, kept by deltas (analytics.domain.lesson_delta).
CREATE TABLE analytics.lesson_stats (
    course_id uuid NOT NULL,
    lesson_id uuid NOT NULL,
    started   integer NOT NULL DEFAULT 0 CHECK (started >= 0),
    completed integer NOT NULL DEFAULT 0 CHECK (completed >= 0),
    minutes   bigint NOT NULL DEFAULT 0 CHECK (minutes >= 0),
    PRIMARY KEY (course_id, lesson_id)
);

-- Time on task: one row per learner and minute, whatever the number of tabs (the first lesson to
-- beat in a minute gets it).
CREATE TABLE analytics.activity_minutes (
    learner   uuid NOT NULL,
    minute    timestamptz NOT NULL CHECK (date_trunc('minute', minute) = minute),
    course_id uuid NOT NULL,
    lesson_id uuid NOT NULL,
    PRIMARY KEY (learner, minute)
);
CREATE INDEX activity_minutes_by_minute ON analytics.activity_minutes (minute);
CREATE INDEX activity_minutes_by_course ON analytics.activity_minutes (course_id, learner);

-- Learners whose account was deleted: their rows were re-keyed to an id naming nobody; events
-- still in flight for them are ignored.
CREATE TABLE analytics.erased_learners (
    learner   uuid PRIMARY KEY,
    erased_at timestamptz NOT NULL DEFAULT now()
);
