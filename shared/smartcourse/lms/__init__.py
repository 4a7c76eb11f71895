"""The LMS: domain rules (domain), API contract (schemas), use cases (service), adapters
(repository for Postgres, storage for S3) and the admin CLI (cli)."""
