"""The assistant function's settings (one model, read on first invocation through load_settings)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcourse.auth import JwtSettings
from smartcourse.settings import CommonSettings


class RetrievalSettings(BaseSettings):
    """Retrieval and the evidence test, shared by AssistantFunction (answers) and IngestFunction
    (re-asking content gaps when a version goes live, docs/analytics.md): one set of names and
    defaults, so the re-check judges coverage exactly as an answer does."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    # --- retrieval
    retrieval_top_k: int = Field(default=6, ge=1, le=20)
    # at most this many of the top_k passages from one asset (page, PDF, ...): the answer sees
    # that many different sources, not the neighbouring chunks of one (None: no limit)
    passages_per_asset: int | None = Field(default=1, ge=1, le=20)
    retrieval_candidates: int = Field(default=40, ge=5, le=200)  # per retriever, before fusion
    hnsw_ef_search: int = Field(default=100, ge=10, le=1000)
    rrf_k: int = Field(default=10, ge=1, le=1000)
    near_duplicate_cosine: float = Field(default=0.97, gt=0.5, le=1.0)
    page_boost: float = Field(default=0.5, ge=0.0, lt=1.0)  # share of a page's next best chunk added
    # the text ranking on a second connection, beside the vector query (one more connection per
    # container; docs/scaling.md); false: one connection, the rankings one after the other
    retrieval_parallel: bool = True
    # --- grounding (domain.assess_evidence): the best passage's similarity to the question plus
    # EVIDENCE_COVERAGE_WEIGHT x its idf-weighted coverage of the question must reach MIN_EVIDENCE
    evidence_coverage_weight: float = Field(default=0.5, ge=0.0, le=2.0)
    min_evidence: float = Field(default=0.52, ge=0.0, le=3.0)


class AssistantSettings(CommonSettings, JwtSettings, RetrievalSettings):
    # --- Groq (smartcourse.assistant.groq_client). No key = extractive answers only.
    groq_api_key: str | None = None
    groq_api_key_secret_arn: str | None = None
    groq_model: str = Field(default="llama-3.3-70b-versatile", min_length=1)
    groq_base_url: str | None = None  # tests: a local fake of the OpenAI-compatible endpoint
    groq_temperature: float = Field(default=0.1, ge=0.0, le=2.0)
    groq_timeout_s: float = Field(default=12.0, gt=0.0, le=25.0)
    groq_max_retries: int = Field(default=1, ge=0, le=5)
    groq_max_tokens: int = Field(default=700, ge=32, le=4096)
    extractive_max_sentences: int = Field(default=4, ge=1, le=10)
    # --- limits
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=10 * 1024 * 1024)  # 413 above (API's: 1 MiB)
    ask_rate_limit_per_minute: int = Field(default=20, ge=1, le=1_000_000)
    search_rate_limit_per_minute: int = Field(default=60, ge=1, le=1_000_000)
    history_turns: int = Field(default=3, ge=0, le=10)
