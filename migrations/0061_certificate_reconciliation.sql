-- Reconciliation (issue 8): CertificatesFunction's scheduled sweeper issues the certificate of a
-- completion whose course.completed never got through. A completion the sweeper failed to issue
-- is remembered with its reason; after max attempts it is left for an operator (never retried in
-- a loop, never hidden), and the next runs look at the others first.

CREATE TABLE lms.certificate_sweeps (
    enrollment_id   uuid PRIMARY KEY REFERENCES lms.enrollments (id),
    attempts        integer NOT NULL DEFAULT 1,
    last_error      text NOT NULL,
    last_attempt_at timestamptz NOT NULL DEFAULT now()
);

-- The sweeper's scan: completed enrollments, oldest completion first.
CREATE INDEX enrollments_completed_idx ON lms.enrollments (completed_at) WHERE status = 'completed';

