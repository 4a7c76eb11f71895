"""Helpers that the tests and the benchmarks share (neither is imported by the product).

- `testkit.polling.eventually`: wait for asynchronous work (indexing, events, logs) to show.
- `testkit.courses`: courses with indexed materials built through the real ingestion path (the
  assistant's integration tests, `make eval`, the retrieval benchmark).
"""
