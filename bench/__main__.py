"""`make bench`: runs every bench/bench_*.py and rewrites docs/benchmarks.md.

`python -m bench [name ...]` runs only the named ones (e.g. `cold_start`) and keeps the other
sections of docs/benchmarks.md as they were.
"""

from __future__ import annotations

import importlib
import os
import platform
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
MARK = "<!-- section:{} order={:03d} -->"


def _existing_sections() -> dict[str, tuple[int, str]]:
    if not DOC.exists():
        return {}
    parts = re.split(r"<!-- section:([a-z0-9_]+) order=(\d+) -->\n", DOC.read_text())
    return {parts[i]: (int(parts[i + 1]), parts[i + 2]) for i in range(1, len(parts) - 2, 3)}


def main(argv: list[str]) -> int:
    known = sorted(p.stem[len("bench_"):] for p in (ROOT / "bench").glob("bench_*.py"))
    unknown = [a for a in argv if a not in known]
    if unknown:
        print(__doc__.strip() + f"\n\nbenchmarks: {', '.join(known)}", file=sys.stderr)
        return 0 if set(unknown) <= {"-h", "--help"} else 2
    names = argv or known
    measured: dict[str, tuple[int, str]] = {}
    failed = []
    for name in names:
        mod = importlib.import_module(f"bench.bench_{name}")
        if not hasattr(mod, "run"):
            continue
        print(f"bench: {name} ...", flush=True)
        t0 = time.perf_counter()
        try:
            section = mod.run()
        except Exception as exc:  # report which benchmark broke, run the others
            print(f"bench: {name} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed.append(name)
            continue
        took = time.perf_counter() - t0
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        body = section.markdown() + (
            f"\n_Measured {stamp} by `python -m bench {name}` (part of `make bench`) in {took:.0f} s._\n\n"
        )
        measured[name] = (section.order, body)
        print(section.markdown())
    header = (
        "# Benchmarks\n\nProduced by `make bench` (`python -m bench`); each section says when it was measured "
        "and by which command. Figures that matter are ratios against a baseline measured in the same run: "
        "the machines are shared and noisy, so absolute numbers are context only.\n\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}.\n\n"
    )
    # Re-read just before writing, so sections written meanwhile by another run are kept.
    sections = {**_existing_sections(), **measured}
    ordered = sorted(sections.items(), key=lambda kv: (kv[1][0], kv[0]))
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(header + "".join(f"{MARK.format(k, order)}\n{body}" for k, (order, body) in ordered))
    print(f"bench: wrote {DOC}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
