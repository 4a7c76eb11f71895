"""MiniLM as a LangChain `Embeddings`, for LangChain components (vector stores, retrievers, chains).

The product's own paths (ingestion, the assistant) use `smartcourse.ai.embeddings.MiniLMEmbedder`,
which has the same methods without LangChain's base class: importing `langchain_core.embeddings`
costs about 190 ms of a cold start (docs/assistant.md). This module pays it only where LangChain is
wanted.
"""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from smartcourse.ai.embeddings import MiniLMEmbedder

__all__ = ["MiniLMEmbeddings"]


class MiniLMEmbeddings(MiniLMEmbedder, Embeddings):
    """`MiniLMEmbedder` (the same model, runtime and vectors) as a LangChain `Embeddings`."""
