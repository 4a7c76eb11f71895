-- Certificates (issue 7): one per enrollment, verifiable by a public code, revocable with a reason.
-- snapshot is exactly what was printed on the PDF, so a later rename of the learner or the course
-- never changes what a verifier is told about an issued certificate.

CREATE TABLE lms.certificates (
    id             uuid PRIMARY KEY,
    enrollment_id  uuid NOT NULL UNIQUE REFERENCES lms.enrollments (id),  -- one certificate per enrollment
    user_id        uuid NOT NULL REFERENCES lms.users (id),
    course_id      uuid NOT NULL REFERENCES lms.courses (id),
    code           text NOT NULL UNIQUE CHECK (code ~ '^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){4}$'),
    snapshot       jsonb NOT NULL,   -- learner_name, course_title, instructor_name, completed_on, course_version, ...
    s3_key         text NOT NULL,
    issued_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_reason text CHECK (revoked_reason IS NULL OR length(revoked_reason) BETWEEN 3 AND 500),
    revoked_by     uuid REFERENCES lms.users (id),
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
-- GET /me/certificates, newest first.
CREATE INDEX certificates_user_idx ON lms.certificates (user_id, issued_at DESC, id DESC);
CREATE INDEX certificates_course_idx ON lms.certificates (course_id);
