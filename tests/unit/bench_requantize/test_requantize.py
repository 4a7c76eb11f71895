"""bench/requantize.py: the shipped MiniLM file with integer matrix products stays the same model
(vectors close to the shipped file's), really uses integer products, and is made the same way twice."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from bench.requantize import requantize
from smartcourse.ai.embeddings import MiniLMEmbedder, default_model_path

TEXTS = [
    "A B-tree index keeps keys sorted, which makes range queries and ORDER BY cheap.",
    "Photosynthesis converts light energy into chemical energy stored as glucose.",
    "How do I reset my password if I no longer have access to my email?",
    "Celery workers acknowledge a task after it has been executed when acks_late is set.",
]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return requantize(default_model_path(), tmp_path_factory.mktemp("q") / "minilm-dynint8.onnx")


def test_the_requantized_file_embeds_like_the_shipped_one(made: Path) -> None:
    shipped = np.asarray(MiniLMEmbedder(threads=1).embed_documents(TEXTS))
    ours = np.asarray(MiniLMEmbedder(threads=1, model_path=made).embed_documents(TEXTS))
    cosines = (shipped * ours).sum(axis=1)
    assert cosines.min() >= 0.98, cosines
    # still a model of meaning, not a copy of one vector: unrelated texts stay apart
    assert float(ours[0] @ ours[1]) < 0.5


def test_it_computes_with_integer_matrix_products_and_is_deterministic(made: Path, tmp_path: Path) -> None:
    import onnx

    ops = {n.op_type for n in onnx.load(str(made)).graph.node}
    assert {"MatMulInteger", "DynamicQuantizeLinear"} <= ops, ops
    again = requantize(default_model_path(), tmp_path / "again.onnx")
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(made.read_bytes()).digest()
