"""Fault injection over the real system (issue 8, part 1): `python -m tests.chaos` / `make chaos`.

A private stack (own Postgres data dir, moto, Kafka broker, ports), the local runtime driven by
template.yaml, a workload through the gateway, and faults injected while it runs: broker stop and
start, Postgres restart, a consumer worker SIGKILLed mid-batch, S3 unreachable. Then the counts:
committed, delivered, duplicated, lost, certificates per completion, documents per upload.
"""
