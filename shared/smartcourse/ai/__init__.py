"""Document processing for AI ingestion: extraction, structure-aware chunking, embeddings.

Pure functions and classes: no database, S3 or Kafka code lives here.

- `smartcourse.ai.extract`: bytes -> `ExtractedDocument` (sections with location metadata); a
  package: format detection, limits, one module per format
- `smartcourse.ai.chunking`: `ExtractedDocument` -> `list[Chunk]` bounded in model tokens
- `smartcourse.ai.embeddings`: `MiniLMEmbedder` (all-MiniLM-L6-v2, int8 ONNX, 384 dims)

Importing this package imports none of the heavy libraries; each module loads what it
needs lazily (onnxruntime only on first embedding call).
"""
