"""Wires the assistant from its settings (the one place adapters are chosen)."""

from __future__ import annotations

from smartcourse.assistant.generation import ExtractiveGenerator, Generator, GroqGenerator
from smartcourse.assistant.retrieval import Embedder, RetrievalConfig, Retriever
from smartcourse.assistant.service import AssistantService
from smartcourse.assistant.settings import AssistantSettings, RetrievalSettings
from smartcourse.container import database_for
from smartcourse.db import Database, register_pgvector


def resolve_groq_key(settings: AssistantSettings) -> str | None:
    """GROQ_API_KEY (local) or the Secrets Manager secret GROQ_API_KEY_SECRET_ARN (its text, or
    ``api_key`` / ``GROQ_API_KEY`` in its JSON); None = no LLM (extractive answers)."""
    from smartcourse import secrets  # local import: only AWS deployments read Secrets Manager

    return secrets.resolve(settings.groq_api_key, settings.groq_api_key_secret_arn, settings,
                           setting="GROQ_API_KEY", arn_setting="GROQ_API_KEY_SECRET_ARN",
                           json_keys=("api_key", "GROQ_API_KEY"), required=False)


def default_embedder() -> Embedder:
    from smartcourse.ai.embeddings import MiniLMEmbedder

    return MiniLMEmbedder()


def build_generator(settings: AssistantSettings, embedder: Embedder) -> Generator:
    key = resolve_groq_key(settings)
    if key:
        return GroqGenerator(api_key=key, model=settings.groq_model, temperature=settings.groq_temperature,
                             timeout_s=settings.groq_timeout_s, max_retries=settings.groq_max_retries,
                             max_tokens=settings.groq_max_tokens, rrf_k=settings.rrf_k,
                             base_url=settings.groq_base_url)
    return ExtractiveGenerator(embedder.embed, max_sentences=settings.extractive_max_sentences,
                               rrf_k=settings.rrf_k)


def build_retriever(settings: RetrievalSettings, embedder: Embedder, *,
                    lexical_db: Database | None = None) -> Retriever:
    """`lexical_db`: the second connection the text ranking runs on beside the vector query
    (`smartcourse.assistant.retrieval`); None runs them one after the other."""
    return Retriever(embedder, RetrievalConfig(candidates=settings.retrieval_candidates,
                                               ef_search=settings.hnsw_ef_search, rrf_k=settings.rrf_k,
                                               near_duplicate_cosine=settings.near_duplicate_cosine,
                                               page_boost=settings.page_boost),
                     lexical_db=lexical_db)


def build_service(settings: AssistantSettings, *, embedder: Embedder | None = None,
                  database: Database | None = None) -> AssistantService:
    embedder = embedder or default_embedder()
    db = database or database_for(settings, "smartcourse-assistant", configure=register_pgvector)
    # the text ranking's own connection (no vectors cross it), opened by the first hybrid question
    lexical_db = database_for(settings, "smartcourse-assistant-text") if settings.retrieval_parallel else None
    return AssistantService(db, build_retriever(settings, embedder, lexical_db=lexical_db),
                            build_generator(settings, embedder), settings)
