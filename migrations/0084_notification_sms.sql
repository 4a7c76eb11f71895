-- Text messages (issue 16, the SMS channel): what NotificationsFunction sends through Amazon SNS
-- Publish(PhoneNumber=...), queued in the transaction that stored the notification (or, for a
-- phone verification code, handled its event) and sent by its schedule, at most once, like
-- notify.emails: claimed ('sending', committed) before the SNS call, settled after it.
--
-- One row per notification, one per verification code (UNIQUE): a replayed event texts nothing
-- more. A code's text is not stored (body NULL): the sender derives the code from the id when it
-- sends it, so no code rests in notify.* either.
CREATE TABLE notify.sms (
    id              uuid PRIMARY KEY,
    notification_id uuid UNIQUE REFERENCES notify.notifications (id),
    phone_code_id   uuid UNIQUE,
    user_id         uuid NOT NULL,
    type            text NOT NULL,
    to_number       text NOT NULL,
    body            text,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    due_at          timestamptz NOT NULL DEFAULT now(),   -- later than created_at inside quiet hours
    expires_at      timestamptz,                          -- a code not sent by then is cancelled
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    sns_message_id  text,
    claimed_at      timestamptz,
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sms_one_source CHECK (num_nonnulls(notification_id, phone_code_id) = 1),
    CONSTRAINT sms_code_has_no_body CHECK (phone_code_id IS NULL OR body IS NULL)
);
CREATE INDEX sms_due_idx ON notify.sms (due_at) WHERE status = 'pending';
CREATE INDEX sms_sending_idx ON notify.sms (claimed_at) WHERE status = 'sending';
CREATE INDEX sms_by_user ON notify.sms (user_id);
