-- Learners' questions in the order they were asked. AnalyticsFunction's XapiSync schedule reads the
-- questions asked since its cursor (readonly/ai_questions.py `asked_after`: keyset on (asked_at,
-- message_id)) to make their xAPI `asked` statements (docs/analytics.md, "xAPI export"). The table
-- stays the AI side's (AssistantFunction writes it); the index changes no row.
CREATE INDEX asked_questions_time_idx ON ai.asked_questions (asked_at, message_id);
