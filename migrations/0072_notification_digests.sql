-- Notification digests (issue 16): one email per user, cadence (daily / weekly) and window, that
-- groups the notifications of the types the user batches. The UNIQUE key makes a digest once per
-- window even when the schedule fires twice or two workers run at the same time.
CREATE TABLE notify.digests (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL,
    cadence      text NOT NULL CHECK (cadence IN ('daily', 'weekly')),
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL CHECK (window_end > window_start),
    items        integer NOT NULL CHECK (items > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, cadence, window_start)
);

-- An email is a notification's or a digest's, never both.
ALTER TABLE notify.emails ALTER COLUMN notification_id DROP NOT NULL;
ALTER TABLE notify.emails ADD COLUMN digest_id uuid UNIQUE REFERENCES notify.digests (id);
ALTER TABLE notify.emails ADD CONSTRAINT emails_one_source CHECK ((notification_id IS NULL) <> (digest_id IS NULL));
-- Digest candidates: recent notifications by time.
CREATE INDEX notifications_created_idx ON notify.notifications (created_at);

-- Periodic jobs of the notifications schedule that must not run more often than their period (the
-- schedule fires every minute for emails): a run takes the job by moving last_run_at forward.
CREATE TABLE notify.jobs (
    name        text PRIMARY KEY,
    last_run_at timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO notify.jobs (name) VALUES ('digests');
