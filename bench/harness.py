"""The contract of a benchmark module: `bench/bench_<name>.py` defines `run() -> Section`.

Benchmarks compare against a baseline measured in the same run (ratios), because these machines
are shared and noisy; absolute figures are reported beside them for context only.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Section:
    title: str
    rows: list[dict[str, Any]]
    notes: str = ""
    order: int = 50
    extra: dict[str, Any] = field(default_factory=dict)

    def markdown(self) -> str:
        out = [f"## {self.title}", ""]
        if self.notes:
            out += [self.notes.strip(), ""]
        if self.rows:
            cols = list(self.rows[0])
            out.append("| " + " | ".join(cols) + " |")
            out.append("|" + "|".join("---" for _ in cols) + "|")
            for r in self.rows:
                out.append("| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
        return "\n".join(out) + "\n"


def table(rows: list[dict[str, Any]]) -> str:
    """`rows` as a markdown table alone (no heading), for a section's notes."""
    return Section("", rows).markdown().split("\n", 2)[2]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return "" if v is None else str(v)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))
    return s[k]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
