-- Learning analytics: the funnel's median minutes per lesson read the lesson's learners with
-- minutes > 0 in order from this index (an index-only scan, already sorted) instead of every row
-- of the lesson from the table (bench analytics: ~40 ms for a course of 20,000 learners).
CREATE INDEX lesson_learners_minutes ON analytics.lesson_learners (course_id, lesson_id, minutes) WHERE minutes > 0;
