-- Accounts (issue 17): sessions that can be ended, sign-in limits, an append-only audit log.
--
-- A session is one sign-in: the family of refresh tokens it hands out, one at a time. Every access
-- token names its session (claim `sid`); every HTTP function checks, on every request, that the
-- session has not ended and the account is not disabled (smartcourse.readonly.lms_sessions), so an
-- ended session's access tokens are refused on their next use, not at expiry.
ALTER TABLE lms.users ADD COLUMN disabled_at timestamptz;

CREATE TABLE lms.sessions (
    id                uuid PRIMARY KEY,
    user_id           uuid NOT NULL REFERENCES lms.users (id) ON DELETE CASCADE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    refreshed_at      timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,                 -- absolute: a refresh never extends it
    ended_at          timestamptz,
    end_reason        text CHECK (end_reason IN ('logout', 'logout_all', 'password_changed', 'account_disabled',
                                                 'role_changed', 'refresh_reuse')),
    client_ip         text,
    user_agent        text,
    CHECK ((ended_at IS NULL) = (end_reason IS NULL))
);
CREATE INDEX sessions_live_by_user ON lms.sessions (user_id) WHERE ended_at IS NULL;

-- Refresh tokens are stored as SHA-256 of the token (a database read gives no usable token).
-- Rotation: a refresh marks its token used and issues the next; a used token presented again
-- ends the whole session (`refresh_reuse`: someone holds a copy).
CREATE TABLE lms.refresh_tokens (
    token_hash  bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    session_id  uuid NOT NULL REFERENCES lms.sessions (id) ON DELETE CASCADE,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_by_session ON lms.refresh_tokens (session_id);

-- Failed sign-ins, per email as typed (known or not, so the answer does not tell them apart) and
-- per client address; read over a sliding window (smartcourse.accounts.domain.SignInLimits).
-- Rows older than the window are deleted as sign-ins happen.
CREATE TABLE lms.sign_in_failures (
    id         bigserial PRIMARY KEY,
    email      text NOT NULL,
    client_ip  text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sign_in_failures_by_email ON lms.sign_in_failures (email, at);
CREATE INDEX sign_in_failures_by_ip ON lms.sign_in_failures (client_ip, at);

-- Security events and administrators' actions. Append-only: the triggers refuse UPDATE, DELETE and
-- TRUNCATE for every role the application uses (only a superuser dropping the trigger could).
CREATE TABLE lms.audit_log (
    id          uuid PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    action      text NOT NULL,
    actor_id    uuid,             -- who did it (null: the system, or a caller not signed in)
    subject_id  uuid,             -- the account it is about, when known
    client_ip   text,
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_by_time ON lms.audit_log (at DESC, id DESC);
CREATE INDEX audit_log_by_subject ON lms.audit_log (subject_id, at DESC);

CREATE FUNCTION lms.refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'lms.audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON lms.audit_log
    FOR EACH ROW EXECUTE FUNCTION lms.refuse_audit_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON lms.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION lms.refuse_audit_change();
