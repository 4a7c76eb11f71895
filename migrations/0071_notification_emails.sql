-- Notification emails (issue 16): what NotificationsFunction sends through SES, one row per
-- notification at most (UNIQUE), written in the transaction that stored the notification and
-- delivered by its schedule. Sending is at most once: a row is claimed ('sending', committed)
-- before the SES call and marked 'sent' after it; a row left 'sending' by a crash is never sent
-- again (it is marked 'failed', outcome unknown).
CREATE TABLE notify.emails (
    id              uuid PRIMARY KEY,
    notification_id uuid NOT NULL UNIQUE REFERENCES notify.notifications (id),
    user_id         uuid NOT NULL,
    type            text NOT NULL,
    to_address      text NOT NULL,
    subject         text NOT NULL,
    text_body       text NOT NULL,
    html_body       text NOT NULL,
    unsubscribe_url text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'suppressed', 'cancelled')),
    due_at          timestamptz NOT NULL DEFAULT now(),   -- later than created_at inside quiet hours
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    ses_message_id  text,
    claimed_at      timestamptz,
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX emails_due_idx ON notify.emails (due_at) WHERE status = 'pending';
CREATE INDEX emails_sending_idx ON notify.emails (claimed_at) WHERE status = 'sending';

-- Addresses nothing is sent to: hard bounces and complaints (SES event destination -> SNS), and
-- what an operator adds. Checked when an email is enqueued and again when it is sent.
CREATE TABLE notify.suppressions (
    address    text PRIMARY KEY CHECK (address = lower(address)),
    reason     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
