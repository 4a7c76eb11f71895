-- LMS core: users, courses with published version snapshots, structure, assets, enrollments,
-- per-lesson progress and Idempotency-Key records. Table and column names are a contract other
-- parts code against (readonly/lms_facts.py, certificates): add, never rename.

CREATE TABLE lms.users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role          text NOT NULL CHECK (role IN ('student', 'instructor', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE lms.courses (
    id                uuid PRIMARY KEY,
    instructor_id     uuid NOT NULL REFERENCES lms.users (id),
    title             text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description       text NOT NULL DEFAULT '',
    status            text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'archived')),
    published_version integer,
    capacity          integer CHECK (capacity IS NULL OR capacity > 0),
    enroll_opens_at   timestamptz,
    enroll_closes_at  timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (enroll_opens_at IS NULL OR enroll_closes_at IS NULL OR enroll_opens_at < enroll_closes_at)
);
CREATE INDEX courses_instructor_idx ON lms.courses (instructor_id, created_at DESC, id DESC);
CREATE INDEX courses_status_idx ON lms.courses (status, created_at DESC, id DESC);

-- The frozen structure learners see: one row per publish.
CREATE TABLE lms.course_versions (
    course_id    uuid NOT NULL REFERENCES lms.courses (id),
    version      integer NOT NULL CHECK (version > 0),
    snapshot     jsonb NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    published_by uuid NOT NULL REFERENCES lms.users (id),
    PRIMARY KEY (course_id, version)
);

-- The draft (editable) structure.
CREATE TABLE lms.modules (
    id        uuid PRIMARY KEY,
    course_id uuid NOT NULL REFERENCES lms.courses (id),
    title     text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    position  integer NOT NULL CHECK (position >= 0)
);
CREATE INDEX modules_course_idx ON lms.modules (course_id, position);

CREATE TABLE lms.assets (
    id           uuid PRIMARY KEY,
    course_id    uuid NOT NULL REFERENCES lms.courses (id),
    filename     text NOT NULL,
    content_type text NOT NULL,
    size_bytes   bigint NOT NULL CHECK (size_bytes > 0),
    s3_key       text NOT NULL UNIQUE,
    created_by   uuid NOT NULL REFERENCES lms.users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz
);
CREATE INDEX assets_course_idx ON lms.assets (course_id, created_at);

CREATE TABLE lms.lessons (
    id        uuid PRIMARY KEY,
    module_id uuid NOT NULL REFERENCES lms.modules (id) ON DELETE CASCADE,
    course_id uuid NOT NULL REFERENCES lms.courses (id),
    title     text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    kind      text NOT NULL CHECK (kind IN ('text', 'video', 'document')),
    required  boolean NOT NULL DEFAULT true,
    body      text,
    asset_id  uuid REFERENCES lms.assets (id),
    position  integer NOT NULL CHECK (position >= 0)
);
CREATE INDEX lessons_module_idx ON lms.lessons (module_id, position);
CREATE INDEX lessons_course_idx ON lms.lessons (course_id);

CREATE TABLE lms.enrollments (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES lms.users (id),
    course_id      uuid NOT NULL REFERENCES lms.courses (id),
    course_version integer NOT NULL,
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'cancelled')),
    enrolled_at    timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz,
    cancelled_at   timestamptz,
    FOREIGN KEY (course_id, course_version) REFERENCES lms.course_versions (course_id, version)
);
-- At most one live (active or completed) enrollment per user and course; cancelled ones pile up.
CREATE UNIQUE INDEX enrollments_one_live_idx ON lms.enrollments (user_id, course_id)
    WHERE status IN ('active', 'completed');
CREATE INDEX enrollments_user_idx ON lms.enrollments (user_id, enrolled_at DESC, id DESC);
CREATE INDEX enrollments_course_idx ON lms.enrollments (course_id, status);

-- One row per lesson of the pinned version, created with the enrollment. lesson_id refers to the
-- version snapshot (a draft lesson may be deleted later), hence no foreign key to lms.lessons.
CREATE TABLE lms.lesson_progress (
    enrollment_id uuid NOT NULL REFERENCES lms.enrollments (id),
    lesson_id     uuid NOT NULL,
    required      boolean NOT NULL DEFAULT true,
    status        text NOT NULL DEFAULT 'not_started'
                  CHECK (status IN ('not_started', 'in_progress', 'completed')),
    percent       integer NOT NULL DEFAULT 0 CHECK (percent BETWEEN 0 AND 100),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    PRIMARY KEY (enrollment_id, lesson_id)
);

-- Idempotency-Key: the first successful result of a creating POST, per caller and key.
-- scope is 'user:<uuid>' for authenticated callers, 'anon' for registration.
CREATE TABLE lms.idempotency_keys (
    scope           text NOT NULL,
    idem_key        text NOT NULL CHECK (length(idem_key) BETWEEN 1 AND 200),
    method          text NOT NULL,
    path            text NOT NULL,
    request_hash    text NOT NULL,
    response_status integer,
    response_body   jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_keys_created_idx ON lms.idempotency_keys (created_at);
