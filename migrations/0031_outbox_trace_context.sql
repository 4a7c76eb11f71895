-- W3C trace context of the work that wrote each event (issue 15): the relay copies it into the
-- Kafka record's `traceparent` header, so a consumer's logs carry the producer's trace id.
ALTER TABLE lms.outbox ADD COLUMN traceparent text
    CHECK (traceparent IS NULL OR traceparent ~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$');
ALTER TABLE lms.outbox_archive ADD COLUMN traceparent text;
