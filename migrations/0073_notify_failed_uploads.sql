-- Notifications (issue 16): instructors hear when an upload could not be processed. The AI side
-- writes no event for it (it marks ai.documents failed), so NotificationsFunction's schedule reads
-- failed documents through smartcourse.readonly.ai_index, from a watermark it keeps here.
CREATE TABLE notify.watermarks (
    name     text PRIMARY KEY,
    position timestamptz NOT NULL DEFAULT '1970-01-01T00:00:00Z'
);
INSERT INTO notify.watermarks (name) VALUES ('failed_documents');
-- The reader's index on the AI side's table (failed documents by time; few rows).
CREATE INDEX documents_failed_idx ON ai.documents (updated_at) WHERE status = 'failed';
