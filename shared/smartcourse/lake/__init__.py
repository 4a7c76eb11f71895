"""The event lake (issue 18): every domain event archived to S3 as Parquet (docs/lake.md)."""
