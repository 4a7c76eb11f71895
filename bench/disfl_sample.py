"""Build tests/fixtures/disfl_qa_sample.json from BIG-bench's disfl_qa task (run once, by hand).

    pip download bigbench==1.0.0 --no-deps --no-binary :all: -d /tmp/bigbench
    tar -xzf /tmp/bigbench/bigbench-1.0.0.tar.gz -C /tmp/bigbench --wildcards '*/disfl_qa/task.json'
    python -m bench.disfl_sample /tmp/bigbench/bigbench-1.0.0/bigbench/benchmark_tasks/disfl_qa/task.json

The sample is fixed (seeded): QUESTIONS answerable questions (SQuAD v2 "unknown" targets and
answers that do not occur in their paragraph are left out), every paragraph they need, and
distractor paragraphs from the same task up to PARAGRAPHS in all. Paragraphs are de-duplicated
and lightly detokenised (the task stores them with spaces around punctuation).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from pathlib import Path

QUESTIONS = 400
PARAGRAPHS = 800
SEED = 20261126
OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "disfl_qa_sample.json"
SEPARATOR = "  \ncontext: "


def detokenize(text: str) -> str:
    t = " ".join(text.split())
    t = re.sub(r" ([,.;:!?%)\]])", r"\1", t)
    t = re.sub(r"([(\[$]) ", r"\1", t)
    t = re.sub(r" ' s\b", "'s", t)
    t = re.sub(r" n't\b", "n't", t)
    t = re.sub(r"(\d) , (\d{3})\b", r"\1,\2", t)
    t = re.sub(r"(\w) - (\w)", r"\1-\2", t)
    t = re.sub(r"(\w) \u2013 (\w)", "\\1\u2013\\2", t)
    return t.strip()


def normalise(text: str) -> str:
    """What answer containment compares: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


def build(task_path: Path) -> dict[str, object]:
    task = json.loads(task_path.read_text())
    by_text: dict[str, str] = {}
    items = []
    for ex in task["examples"]:
        question, _, context = ex["input"].partition(SEPARATOR)
        answer = ex["target"]
        paragraph = detokenize(context)
        if not paragraph:
            continue
        pid = "p" + hashlib.sha256(paragraph.encode()).hexdigest()[:10]
        by_text[pid] = paragraph
        if answer == "unknown" or normalise(answer) not in normalise(paragraph) or not normalise(answer):
            continue
        items.append({"question": " ".join(question.split()), "answer": answer, "paragraph_id": pid})
    rng = random.Random(SEED)
    rng.shuffle(items)
    chosen = items[:QUESTIONS]
    needed = {q["paragraph_id"] for q in chosen}
    others = sorted(set(by_text) - needed)
    rng.shuffle(others)
    pids = sorted(needed | set(others[: max(0, PARAGRAPHS - len(needed))]))
    for i, q in enumerate(chosen):
        q["id"] = f"q{i:03d}"
    return {
        "source": "BIG-bench task disfl_qa (bigbench==1.0.0, bigbench/benchmark_tasks/disfl_qa/task.json)",
        "licence": "CC BY 4.0 (Disfl-QA, Google Research) / CC BY-SA 4.0 (SQuAD 2.0 Wikipedia paragraphs); "
                   "see disfl_qa_sample.LICENSE.md",
        "seed": SEED,
        "questions": [{k: q[k] for k in ("id", "question", "answer", "paragraph_id")} for q in chosen],
        "paragraphs": [{"id": pid, "text": by_text[pid]} for pid in pids],
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    data = build(Path(argv[0]))
    OUT.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"{OUT}: {len(data['questions'])} questions, {len(data['paragraphs'])} paragraphs")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
