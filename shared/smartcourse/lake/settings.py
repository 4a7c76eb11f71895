"""LakeArchiveFunction settings (read on the first invocation through `load_settings`)."""

from __future__ import annotations

from pydantic import Field

from smartcourse.settings import CommonSettings, KafkaSettings


class LakeSettings(CommonSettings, KafkaSettings):
    # The lake bucket (template.yaml: LakeBucket): events/ holds the Parquet files.
    lake_bucket: str = Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$")
    # The `x-consumer` of the records it dead-letters.
    consumer_name: str = Field(default="lake", pattern=r"^[a-z0-9_.-]{1,60}$")
    # How long one invocation waits out a lake bucket that does not answer before reporting the
    # topic-partition's records failed (the mapping then retries them). The function's Timeout is 120 s.
    transient_wait_s: float = Field(default=30.0, ge=0, le=90)
    # Local working folder for the Parquet files being written or merged (Lambda: /tmp, EphemeralStorage).
    work_dir: str = "/tmp"  # noqa: S108 - Lambda's only writable folder; files go in a private subfolder
    # Compaction (the Schedule event): the days it looks at (today and the days before: late events
    # land in their own day's partition), the files that make a partition worth merging, and how many
    # partitions one run merges at most (the next run takes the rest).
    compact_days: int = Field(default=3, ge=1, le=400)
    compact_min_files: int = Field(default=2, ge=2, le=10_000)
    compact_max_partitions: int = Field(default=500, ge=1, le=100_000)
    # A compaction starts no partition closer than this to the Lambda deadline.
    compact_safety_ms: int = Field(default=30_000, ge=1_000, le=600_000)
