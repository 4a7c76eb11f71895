"""reindex: a model change re-embeds every asset of a course and switches its live version to
the new chunk sets in one go; a second run does no work; the CLI prints a summary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from smartcourse.ai import repository
from smartcourse.ai.reindex import reindex
from tests.integration.ingest import documents as docs
from tests.integration.ingest.conftest import IngestEnv

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


class NextModel:
    """The same vectors under another model version: what a model upgrade looks like to storage."""

    model_name = "sentence-transformers/all-MiniLM-L6-v2"
    model_version = "minilm-next@test"

    def __init__(self, real: Any) -> None:
        self.real = real

    def embed(self, texts: Any) -> Any:
        return self.real.embed(texts)


def test_reindex_moves_a_course_to_the_new_model_and_keeps_it_live(ingest: IngestEnv) -> None:
    from smartcourse.ai.bootstrap import build_service, new_database
    from smartcourse.ai.ingestion import IngestSettings
    from smartcourse.settings import load_settings

    page = docs.manual_page("indexes-types.html").paragraphs
    course = ingest.course()
    a, _ = ingest.upload(course, "hash.md", docs.markdown("Hash indexes", [("Hash", page[3:5])]), "text/markdown")
    b, _ = ingest.upload(course, "gist.md", docs.markdown("GiST indexes", [("GiST", page[6:8])]), "text/markdown")
    ingest.invoke(ingest.msk_event(ingest.published(course, 1, [a, b])))
    old_live = ingest.live(course)

    settings = load_settings(IngestSettings)
    upgraded = build_service(settings, embedder=NextModel(ingest.app.service().pipeline.embedder))
    switch_db = new_database(settings, "test-reindex")
    try:
        first = reindex(upgraded, switch_db, [course])
        second = reindex(upgraded, switch_db, [course])
    finally:
        switch_db.close()
        upgraded.database.close()

    assert (first.objects, first.outcomes["indexed"], first.switched, first.errors) == (2, 2, 1, [])
    new_live = ingest.live(course)
    assert set(new_live) == {a.id, b.id} and set(new_live.values()).isdisjoint(old_live.values())
    versions = ingest.db.execute("SELECT DISTINCT model_version FROM ai.chunk_sets WHERE id = ANY(%s)",
                                 (list(new_live.values()),)).fetchall()
    assert [r["model_version"] for r in versions] == ["minilm-next@test"]
    assert repository.live_version(ingest.db, course).version == 1
    assert (second.outcomes["duplicate"], second.outcomes["indexed"]) == (2, 0)


def test_reindex_cli_prints_a_summary(ingest: IngestEnv, in_process_env: dict[str, str]) -> None:
    course = ingest.course()
    ingest.upload(course, "cli.md", docs.markdown("CLI", [("Notes", ["Reindex me, please, with care. " * 4])]),
                  "text/markdown")
    env = {**os.environ, **in_process_env, "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT}"}

    proc = subprocess.run([sys.executable, "-m", "smartcourse.ai.reindex", "--course", str(course)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)

    assert proc.returncode == 0, proc.stderr
    assert "1 course(s), 1 object(s)" in proc.stdout
    assert "unchanged 1" in proc.stdout  # already indexed with the current model: no work
    assert "reindex" in proc.stderr  # the progress bar
