-- Notifications (issue 16): the notifications side's own schema. It reads LMS facts only through
-- smartcourse.readonly.lms_people and never writes lms.*; user ids are not foreign keys across
-- the ownership line (as ai.* does not reference lms.*).
CREATE SCHEMA IF NOT EXISTS notify;

-- Consumer idempotency and failure ledgers, as lms.* and ai.* have them (smartcourse.consumer).
CREATE TABLE notify.processed_events (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE TABLE notify.consumer_failures (LIKE lms.consumer_failures INCLUDING ALL);

-- The inbox. In-app notifications are always stored. One row per (user, type, dedupe key): the key
-- names the object (an enrolment, a certificate) or a hold window (course updates merged per hour),
-- so a replayed or duplicated event cannot add a second one.
CREATE TABLE notify.notifications (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL,
    type        text NOT NULL,
    dedupe_key  text NOT NULL,
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    body        text NOT NULL CHECK (length(body) <= 2000),
    link        text CHECK (length(link) <= 500),
    event_id    uuid NOT NULL,          -- the (last) event that produced or updated it
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    read_at     timestamptz,
    UNIQUE (user_id, type, dedupe_key)
);
-- The inbox is read newest first (keyset on created_at, id), all or unread only.
CREATE INDEX notifications_inbox_idx ON notify.notifications (user_id, created_at DESC, id DESC);
CREATE INDEX notifications_unread_idx ON notify.notifications (user_id, created_at DESC, id DESC)
    WHERE read_at IS NULL;

-- Preferences: only what a user changed is stored; the catalogue (smartcourse.notifications.domain)
-- holds the defaults and the locked channels.
CREATE TABLE notify.preferences (
    user_id    uuid NOT NULL,
    type       text NOT NULL,
    channel    text NOT NULL CHECK (channel IN ('in_app', 'email', 'sms')),
    cadence    text NOT NULL CHECK (cadence IN ('immediately', 'daily', 'weekly', 'off')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, type, channel)
);
CREATE TABLE notify.user_settings (
    user_id     uuid PRIMARY KEY,
    timezone    text NOT NULL DEFAULT 'UTC',
    quiet_start time,
    quiet_end   time,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL) AND (quiet_start IS NULL OR quiet_start <> quiet_end))
);
