-- Account emails (issue 17): password reset and email verification links, sent through the
-- notifications function's email channel.
--
-- A link is "<id>.<HMAC-SHA256(key, purpose:id)>": the event the LMS writes carries only the id
-- (no secret travels through Kafka); the notifications function, which holds the same key (the
-- JWT secret, as for unsubscribe links), signs the link it emails. Single use (used_at), expiring.
ALTER TABLE lms.users ADD COLUMN email_verified_at timestamptz;

CREATE TABLE lms.account_tokens (
    id          uuid PRIMARY KEY,
    purpose     text NOT NULL CHECK (purpose IN ('password_reset', 'email_verification')),
    -- the email as asked for: a reset for an address nobody has is recorded too (user_id NULL),
    -- so known and unknown addresses cost the same work and count against the same limit
    email       text NOT NULL,
    user_id     uuid REFERENCES lms.users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX account_tokens_by_email ON lms.account_tokens (email, purpose, created_at);

ALTER TABLE lms.sessions DROP CONSTRAINT sessions_end_reason_check;
ALTER TABLE lms.sessions ADD CONSTRAINT sessions_end_reason_check
    CHECK (end_reason IN ('logout', 'logout_all', 'password_changed', 'account_disabled', 'role_changed',
                          'refresh_reuse', 'password_reset'));

-- The notifications side: an account email has no inbox row and no unsubscribe link (it is the
-- account's own security mail); its source is the LMS token id (one email per link).
ALTER TABLE notify.emails ADD COLUMN account_token_id uuid UNIQUE;
ALTER TABLE notify.emails DROP CONSTRAINT emails_one_source;
ALTER TABLE notify.emails ADD CONSTRAINT emails_one_source
    CHECK (num_nonnulls(notification_id, digest_id, account_token_id) = 1);
