-- Event backbone (issue 4): per-aggregate commit order in the outbox, the relay's archive,
-- and the consumer framework's failure ledger.

-- 1. Per-aggregate order = seq order = commit order.
-- The relay publishes an aggregate's rows in seq order. Without this trigger a transaction that
-- took seq 10 could commit AFTER another that took seq 11 for the same aggregate, and the relay
-- would publish 11 first (10 was not yet visible). The trigger takes a transaction-scoped
-- advisory lock on the aggregate (namespace 7301) BEFORE drawing the seq, so two writers of one
-- aggregate take their seqs in the order they will commit. Writers of different aggregates never
-- wait on each other. The lock is released at commit/rollback.
CREATE FUNCTION lms.outbox_order_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7301, hashtext(NEW.aggregate_type || '/' || NEW.aggregate_id));
    NEW.seq := nextval(pg_get_serial_sequence('lms.outbox', 'seq'));
    RETURN NEW;
END
$$;

CREATE TRIGGER outbox_order_guard BEFORE INSERT ON lms.outbox
    FOR EACH ROW EXECUTE FUNCTION lms.outbox_order_guard();

-- The relay's "earlier unpublished row of this aggregate?" check.
CREATE INDEX outbox_unpublished_aggregate_idx ON lms.outbox (aggregate_type, aggregate_id, seq)
    WHERE published_at IS NULL;
-- Operators list parked rows.
CREATE INDEX outbox_parked_idx ON lms.outbox (parked_at) WHERE parked_at IS NOT NULL AND published_at IS NULL;
-- Replay by type.
CREATE INDEX outbox_type_idx ON lms.outbox (event_type, seq) WHERE published_at IS NOT NULL;

-- 2. Published rows past the retention period move here when OUTBOX_RETENTION_MODE=archive.
CREATE TABLE lms.outbox_archive (
    seq             bigint PRIMARY KEY,
    id              uuid NOT NULL UNIQUE,
    event_type      text NOT NULL,
    aggregate_type  text NOT NULL,
    aggregate_id    text NOT NULL,
    correlation_id  text,
    occurred_at     timestamptz NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL,
    published_at    timestamptz NOT NULL,
    archived_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_archive_aggregate_idx ON lms.outbox_archive (aggregate_type, aggregate_id, seq);
CREATE INDEX outbox_archive_type_idx ON lms.outbox_archive (event_type, seq);

-- 3. Consumer failure ledger: how often a record failed, and why. Written in its own
-- transaction after the handler's transaction rolled back; the framework dead-letters a record
-- (with this reason in the message headers) once it has failed max_attempts times.
CREATE TABLE lms.consumer_failures (
    consumer        text NOT NULL,
    topic           text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    event_id        uuid,
    attempts        integer NOT NULL DEFAULT 1,
    error_type      text NOT NULL,
    last_error      text NOT NULL,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at  timestamptz NOT NULL DEFAULT now(),
    dead_lettered_at timestamptz,
    PRIMARY KEY (consumer, topic, kafka_partition, kafka_offset)
);
CREATE TABLE ai.consumer_failures (LIKE lms.consumer_failures INCLUDING ALL);
