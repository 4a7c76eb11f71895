-- Foundation: the two owned schemas, the transactional outbox, consumer dedupe.
-- Numbering: 0001-0009 foundation, 0010-0029 LMS, 0030-0039 event backbone,
-- 0040-0059 AI service, 0060-0069 certificates.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE SCHEMA IF NOT EXISTS lms;   -- written only by the LMS side (API, certificates, relay)
CREATE SCHEMA IF NOT EXISTS ai;    -- written only by the AI side (ingest, assistant)

-- Every domain event, written in the same transaction as the state change it describes.
CREATE TABLE lms.outbox (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              uuid NOT NULL UNIQUE,              -- the event id
    event_type      text NOT NULL,                     -- smartcourse.<aggregate>.<action>.vN
    aggregate_type  text NOT NULL,
    aggregate_id    text NOT NULL,                     -- the Kafka key
    correlation_id  text,
    occurred_at     timestamptz NOT NULL,
    payload         jsonb NOT NULL,                    -- the whole envelope
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    parked_at       timestamptz,
    park_reason     text
);
-- The relay's work queue: unpublished, unparked rows in commit order.
CREATE INDEX outbox_pending_idx ON lms.outbox (seq) WHERE published_at IS NULL AND parked_at IS NULL;
CREATE INDEX outbox_aggregate_idx ON lms.outbox (aggregate_type, aggregate_id, seq);
CREATE INDEX outbox_published_idx ON lms.outbox (published_at) WHERE published_at IS NOT NULL;

-- Consumer idempotency: a row per (consumer, event) in the consumer's own transaction.
CREATE TABLE lms.processed_events (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE TABLE ai.processed_events (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
