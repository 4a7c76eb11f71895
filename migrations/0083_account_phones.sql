-- Phone numbers on accounts (issue 16, the SMS channel): one E.164 number per account, verified
-- by a 6-digit code sent to it by SMS before anything else is texted there.
--
-- A code is never stored or sent through Kafka: it is HMAC-SHA256(key, purpose:id:phone) reduced
-- to 6 digits, derived from the row's id by whoever holds the key (the JWT secret): the API to
-- check what the user typed, NotificationsFunction to text it (the event carries the id only).
ALTER TABLE lms.users ADD COLUMN phone text CHECK (phone ~ '^\+[1-9][0-9]{7,14}$');
ALTER TABLE lms.users ADD COLUMN phone_verified_at timestamptz;
ALTER TABLE lms.users ADD CONSTRAINT users_phone_verified_has_phone CHECK (phone IS NOT NULL OR phone_verified_at IS NULL);

CREATE TABLE lms.phone_codes (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES lms.users (id) ON DELETE CASCADE,
    phone       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,     -- wrong codes entered
    used_at     timestamptz,                    -- the right code was entered
    closed_at   timestamptz                     -- replaced by a newer code, or the number removed
);
CREATE INDEX phone_codes_by_user ON lms.phone_codes (user_id, created_at);
CREATE INDEX phone_codes_by_phone ON lms.phone_codes (phone, created_at);
