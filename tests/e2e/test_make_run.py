"""`python -m devstack run` (what `make run` starts): serves /health with every dependency ok,
Ctrl-C stops every process it started, and a second run finds the first run's data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.conftest import free_ports

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def start(data_dir: Path, ports: dict[str, int]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "AWS_ENDPOINT_URL")}
    env.update({"DEVSTACK_DATA_DIR": str(data_dir), "DEVSTACK_MOTO_PORT": str(ports["moto"]),
                "DEVSTACK_KAFKA_PORT": str(ports["kafka"]), "DEVSTACK_CONTROLLER_PORT": str(ports["ctl"]),
                "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT}"})
    return subprocess.Popen([sys.executable, "-m", "devstack", "run", "--port", str(ports["http"]),
                             "--web-port", str(ports["web"])],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_health(port: int, proc: subprocess.Popen[str], timeout: float = 180) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else "exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as resp:
                return dict(json.loads(resp.read()))
        except urllib.error.HTTPError as err:  # 503 while a dependency is failing: show which
            raise AssertionError(err.read().decode()) from err
        except OSError:
            time.sleep(0.5)
    raise AssertionError("the API never answered /health")


def processes_using(data_dir: Path) -> list[str]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if str(data_dir) in cmd:
            found.append(cmd[:200])
    return found


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    out, _ = proc.communicate(timeout=120)
    return out


def test_run_serves_health_stops_cleanly_and_keeps_its_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ports = dict(zip(["http", "moto", "kafka", "ctl", "web"], free_ports(5), strict=True))

    proc = start(data_dir, ports)
    try:
        health = wait_health(ports["http"], proc)
        assert health["status"] == "ok", health
        # The web app is served next to the API, and its config.json points at that API.
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['web']}/", timeout=10) as resp:
            assert resp.headers["Content-Type"].startswith("text/html")
            assert b"<html" in resp.read().lower()
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['web']}/config.json", timeout=10) as resp:
            assert json.loads(resp.read()) == {"apiBaseUrl": f"http://127.0.0.1:{ports['http']}", "stage": "local"}
        import psycopg

        state = json.loads((data_dir / "stack.json").read_text())
        url = state["admin_database_url"].replace("dbname=postgres", "dbname=smartcourse").replace(
            "/postgres?", "/smartcourse?")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS public.run_marker (note text)")
            conn.execute("INSERT INTO public.run_marker VALUES ('first run')")
    finally:
        out = stop(proc)
    assert proc.returncode == 0, out
    assert "stopped" in out
    assert f"web app   http://127.0.0.1:{ports['web']}/" in out
    time.sleep(1)
    assert processes_using(data_dir) == [], "Ctrl-C left processes behind"

    proc = start(data_dir, ports)
    try:
        assert wait_health(ports["http"], proc)["status"] == "ok"
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT note FROM public.run_marker").fetchall() == [("first run",)]
    finally:
        stop(proc)
    time.sleep(1)
    assert processes_using(data_dir) == []
