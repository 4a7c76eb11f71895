"""MiniLM embeddings on ONNX Runtime: shape, normalisation, determinism, quality, laziness."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from smartcourse.ai import embeddings as emb
from smartcourse.ai.embeddings import (
    DIMENSIONS,
    MAX_SEQ_LENGTH,
    MODEL_NAME,
    MODEL_VERSION,
    TOKENIZER_PATH,
    MiniLMEmbedder,
    count_tokens,
)

SHARED = Path(emb.__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model() -> MiniLMEmbedder:
    m = MiniLMEmbedder(batch_size=4)
    m.load()
    return m


def cos(a: list[float] | np.ndarray, b: list[float] | np.ndarray) -> float:
    return float(np.dot(np.asarray(a), np.asarray(b)))  # vectors are unit length


def test_metadata() -> None:
    assert MODEL_NAME == "sentence-transformers/all-MiniLM-L6-v2"
    assert DIMENSIONS == 384 == MiniLMEmbedder.dimensions
    assert MODEL_VERSION.startswith("minilm-l6-v2-int8-onnx@")
    assert MODEL_VERSION.split("@")[1][0].isdigit()  # the weights package's version
    assert not isinstance(MiniLMEmbedder(), Embeddings)  # LangChain's base stays out of the cold start


def test_the_langchain_embeddings_is_the_same_model(model: MiniLMEmbedder) -> None:
    from smartcourse.ai.langchain_embeddings import MiniLMEmbeddings

    lc = MiniLMEmbeddings(batch_size=4)
    assert isinstance(lc, Embeddings)
    texts = ["pgvector stores embeddings", "Kafka carries the events"]
    assert np.allclose(lc.embed_documents(texts), model.embed_documents(texts), atol=1e-6)
    assert np.allclose(lc.embed_query("events"), model.embed_query("events"), atol=1e-6)


def test_vendored_tokenizer_and_notice() -> None:
    spec = json.loads(TOKENIZER_PATH.read_text())
    assert spec["model"]["type"] == "WordPiece"
    assert len(spec["model"]["vocab"]) == 30522
    notice = (TOKENIZER_PATH.parent / "NOTICE").read_text()
    assert "Apache" in notice and "all-MiniLM-L6-v2" in notice


def test_count_tokens() -> None:
    assert count_tokens("") == 2  # [CLS] [SEP]
    assert count_tokens("hello world") == 4
    assert count_tokens("PostgreSQL") > count_tokens("database")  # word pieces
    long_text = "word " * 1000
    assert count_tokens(long_text) == 1002  # counting never truncates


def test_shape_and_normalisation(model: MiniLMEmbedder) -> None:
    texts = ["A short one.", "A somewhat longer sentence about database indexes and their costs.", ""]
    vectors = model.embed_documents(texts)
    assert len(vectors) == 3
    assert all(len(v) == DIMENSIONS and isinstance(v[0], float) for v in vectors)
    norms = np.linalg.norm(np.asarray(vectors), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    query = model.embed_query("A short one.")
    np.testing.assert_allclose(query, vectors[0], atol=1e-6)


def test_empty_input(model: MiniLMEmbedder) -> None:
    assert model.embed_documents([]) == []
    assert model.embed([]).shape == (0, DIMENSIONS)
    with pytest.raises(TypeError):
        model.embed("not a list")  # type: ignore[arg-type]


def test_deterministic_and_independent_of_batching(model: MiniLMEmbedder) -> None:
    texts = [f"Sentence number {i} about {'transactions ' * (i % 7)}and locking." for i in range(11)]
    batched = model.embed(texts)
    again = model.embed(texts)
    np.testing.assert_array_equal(batched, again)
    single = np.stack([model.embed([t])[0] for t in texts])
    np.testing.assert_allclose(batched, single, atol=2e-5)  # padding does not leak into results
    reordered = model.embed(list(reversed(texts)))
    np.testing.assert_allclose(reordered[::-1], batched, atol=2e-5)  # output order = input order
    wide = MiniLMEmbedder(batch_size=64).embed(texts)
    np.testing.assert_allclose(wide, batched, atol=2e-5)
    padded = MiniLMEmbedder(min_fill=0.0).embed(texts)  # one batch, every text padded to the longest
    np.testing.assert_allclose(padded, batched, atol=2e-5)


def test_batches_are_longest_first_and_never_pad_a_text_below_min_fill() -> None:
    lengths = np.array([40, 256, 256, 250, 120, 256, 231, 12, 256, 118], dtype=np.int64)
    batches = emb.length_batches(lengths, 3, 0.9)
    assert batches == [[1, 2, 5], [8, 3, 6], [4, 9], [0], [7]]
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 3 and all(lengths[i] >= 0.9 * lengths[b[0]] for i in b)
    assert emb.length_batches(lengths, 16, 0.0) == [[1, 2, 5, 8, 3, 6, 4, 9, 0, 7]]  # no bound: size alone
    assert emb.length_batches(np.array([], dtype=np.int64), 16, 0.9) == []


def test_related_beats_unrelated(model: MiniLMEmbedder) -> None:
    questions = [
        "How does PostgreSQL handle concurrent transactions?",
        "What does VACUUM do?",
        "How do plants make energy from light?",
    ]
    passages = [
        "PostgreSQL uses multiversion concurrency control so concurrent transactions do not block each other.",
        "VACUUM reclaims storage occupied by dead tuples left behind by updates and deletes.",
        "Photosynthesis turns sunlight into chemical energy in plants.",
        "The French Revolution began in 1789 with the storming of the Bastille.",
    ]
    sims = model.embed(questions) @ model.embed(passages).T
    for i in range(len(questions)):
        # the matching passage ranks first, by a clear margin
        others = [sims[i, j] for j in range(len(passages)) if j != i]
        assert sims[i, i] > max(others) + 0.25, sims


def test_known_pairs_match_the_reference_model(model: MiniLMEmbedder) -> None:
    # Reference cosines of fp32 all-MiniLM-L6-v2 (sentence-transformers) for these pairs:
    # 0.7553, 0.7369 and 0.6433. int8 weights stay within 0.02 of them.
    pairs = [
        ("A man is eating food.", "A man is eating a piece of bread.", 0.7553),
        ("A man is riding a horse.", "A man is riding a white horse on an enclosed ground.", 0.7369),
        ("A monkey is playing drums.", "Someone in a gorilla costume is playing a set of drums.", 0.6433),
    ]
    vectors = model.embed([t for a, b, _ in pairs for t in (a, b)])
    for i, (_, _, expected) in enumerate(pairs):
        assert cos(vectors[2 * i], vectors[2 * i + 1]) == pytest.approx(expected, abs=0.02)
    # and each sentence is closer to its partner than to the other pairs
    sims = vectors @ vectors.T
    for i in range(len(pairs)):
        partner = sims[2 * i, 2 * i + 1]
        others = [sims[2 * i, j] for j in range(len(vectors)) if j not in (2 * i, 2 * i + 1)]
        assert partner > max(others)


def test_long_text_is_truncated_to_the_window(model: MiniLMEmbedder) -> None:
    sentence = "The buffer manager keeps hot pages in shared memory and evicts cold ones."
    long_text = " ".join([sentence] * 60)
    assert count_tokens(long_text) > MAX_SEQ_LENGTH
    # Truncation keeps the first 254 word pieces: the vector equals that of the prefix.
    encoding = emb._get_counting_tokenizer().encode(long_text, add_special_tokens=False)
    end = encoding.offsets[MAX_SEQ_LENGTH - 3][1]
    prefix = long_text[:end]
    assert count_tokens(prefix) == MAX_SEQ_LENGTH
    np.testing.assert_allclose(model.embed([long_text])[0], model.embed([prefix])[0], atol=2e-5)


def test_runtime_is_cached_per_process(model: MiniLMEmbedder) -> None:
    other = MiniLMEmbedder(batch_size=16, threads=model.threads)
    assert other._runtime() is model._runtime()


def test_validation() -> None:
    with pytest.raises(ValueError):
        MiniLMEmbedder(batch_size=0)
    with pytest.raises(ValueError):
        MiniLMEmbedder(max_length=1024)
    with pytest.raises(ValueError):
        MiniLMEmbedder(min_fill=1.5)


def test_import_is_lazy() -> None:
    code = (
        "import sys\n"
        "import smartcourse.ai.embeddings as e, smartcourse.ai.chunking, smartcourse.ai.extract\n"
        "assert 'onnxruntime' not in sys.modules, 'onnxruntime imported at module import'\n"
        "e.count_tokens('tokenizer only')\n"
        "assert 'onnxruntime' not in sys.modules, 'count_tokens must not load the model'\n"
        "e.MiniLMEmbedder().embed_query('now')\n"
        "assert 'onnxruntime' in sys.modules\n"
        "assert 'langchain_core' not in sys.modules, 'embedding must not import LangChain'\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SHARED), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_thread_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(emb.THREADS_ENV, "3")
    assert MiniLMEmbedder().threads == 3
    monkeypatch.setenv(emb.THREADS_ENV, "nonsense")
    assert MiniLMEmbedder().threads == max(1, os.cpu_count() or 1)
