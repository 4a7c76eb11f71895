-- Account deletion (issue 17, DELETE /me): the user row stays, anonymised (enrolments and progress
-- keep counting in course statistics under an id that names nobody); a certificate the holder
-- withdrew keeps its code and answers "withdrawn by the holder" (its name is gone from the row and
-- its PDF from S3).
ALTER TABLE lms.users ADD COLUMN deleted_at timestamptz;
ALTER TABLE lms.certificates ADD COLUMN withdrawn_at timestamptz;
