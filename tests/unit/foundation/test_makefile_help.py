"""`make help` lists every target of the Makefile, one line each (a newcomer's first command)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

TARGET = re.compile(r"^([a-zA-Z0-9_-]+):(?!=)", re.MULTILINE)


def makefile_targets() -> list[str]:
    text = (ROOT / "Makefile").read_text()
    return list(dict.fromkeys(TARGET.findall(text)))


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_lists_every_target_once() -> None:
    out = subprocess.run(["make", "--no-print-directory", "-s", "help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=30, check=True).stdout
    lines = out.splitlines()
    listed = [m.group(1) for line in lines if (m := re.match(r"make (\S+)\s+- \S", line))]
    assert len(listed) == len(lines), out  # every line is one target with its description
    targets = makefile_targets()
    assert len(targets) >= 17
    assert sorted(listed) == sorted(targets), out
    assert {"run", "test", "lint", "typecheck", "load", "chaos", "clean-data"} <= set(listed)
