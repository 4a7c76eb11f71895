"""Invokes functions in warm worker processes, like Lambda's execution environments.

Each function gets a pool of workers (up to its reserved concurrency, or `max_concurrency`).
A worker that exceeds the function's timeout is killed, as Lambda does, and the invocation
fails with "Task timed out".
"""

from __future__ import annotations

import json
import logging
import os
import queue
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from devstack.template import FunctionSpec

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("devstack.invoker")


#: errorType of an invocation cut short because the runtime was stopping (not a function failure).
SHUTDOWN = "Runtime.Shutdown"


@dataclass
class InvokeResult:
    ok: bool
    payload: Any  # the handler's return value, or an error object as Lambda reports it
    duration_ms: float
    init_ms: float
    cold: bool

    @property
    def error(self) -> str | None:
        if self.ok:
            return None
        return f"{self.payload.get('errorType')}: {self.payload.get('errorMessage')}"

    @property
    def interrupted(self) -> bool:
        """The runtime stopped during the invocation (its worker killed by `FunctionPool.close`)."""
        return not self.ok and self.payload.get("errorType") == SHUTDOWN


class _Worker:
    def __init__(self, spec: FunctionSpec, env: dict[str, str], log_dir: Path | None) -> None:
        self.spec = spec
        log = None
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            log = (log_dir / f"{spec.logical_id}.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devstack.worker", str(spec.code_uri.resolve()), spec.handler,
             spec.logical_id, str(spec.memory_size), *[str(p.resolve()) for p in spec.layers]],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log if log is not None else None,
            env=env, cwd=str(ROOT), start_new_session=True,
        )
        self.invocations = 0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def invoke(self, event: Any, timeout_s: float) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        deadline = time.time() + timeout_s
        req = {"event": event, "deadline_ms": deadline * 1000, "request_id": str(uuid.uuid4())}
        try:
            self.proc.stdin.write((json.dumps(req, default=str) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            return {"ok": False, "errorType": "Runtime.ExitError",
                    "errorMessage": f"function process exited with code {self.proc.wait()}"}
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.time()) + 0.5)
        if not ready:
            self.kill()
            return {"ok": False, "errorType": "Sandbox.Timedout",
                    "errorMessage": f"Task timed out after {timeout_s:.2f} seconds"}
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            return {"ok": False, "errorType": "Runtime.ExitError",
                    "errorMessage": f"function process exited with code {code}"}
        self.invocations += 1
        return dict(json.loads(line))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


#: Called as (phase, worker pid, event) right before an invocation is handed to a worker ("start")
#: and once it returned or the worker died ("end"): for tracing and fault injection (tests/chaos).
InvokeListener = Callable[[Literal["start", "end"], int, Any], None]


class FunctionPool:
    def __init__(self, spec: FunctionSpec, env: dict[str, str], *, max_concurrency: int = 4,
                 log_dir: Path | None = None) -> None:
        self.spec = spec
        self.env = env
        self.log_dir = log_dir
        self.max = spec.reserved_concurrency or max_concurrency
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(self.max)
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        self.listeners: list[InvokeListener] = []

    def _notify(self, phase: Literal["start", "end"], pid: int, event: Any) -> None:
        for listener in list(self.listeners):
            try:
                listener(phase, pid, event)
            except Exception:  # a listener never breaks an invocation
                log.warning("invoke listener failed", exc_info=True)

    def invoke(self, event: Any, *, timeout_s: float | None = None) -> InvokeResult:
        if self._closed:
            raise RuntimeError(f"{self.spec.logical_id}: runtime is shutting down")
        timeout = float(timeout_s if timeout_s is not None else self.spec.timeout)
        with self._slots:
            cold = False
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                worker = _Worker(self.spec, self.env, self.log_dir)
                cold = True
                with self._lock:
                    self._all.append(worker)
            started = time.perf_counter()
            self._notify("start", worker.proc.pid, event)
            resp = worker.invoke(event, timeout)
            elapsed = (time.perf_counter() - started) * 1000
            self._notify("end", worker.proc.pid, event)
            if worker.alive():
                self._idle.put(worker)
            else:
                with self._lock:
                    if worker in self._all:  # close() may have cleared the pool meanwhile
                        self._all.remove(worker)
        if not resp.get("ok") and self._closed and not worker.alive():
            # close() killed the worker mid-invocation: the runtime stopped, the function did not fail
            resp = {"ok": False, "errorType": SHUTDOWN,
                    "errorMessage": "the local runtime stopped during the invocation "
                                    f"({resp.get('errorType')}: {resp.get('errorMessage')})"}
        ok = bool(resp.pop("ok"))
        init_ms = float(resp.pop("init_ms", 0.0))
        resp.pop("duration_ms", None)
        payload = resp["result"] if ok else resp
        return InvokeResult(ok=ok, payload=payload, duration_ms=elapsed, init_ms=init_ms, cold=cold)

    def close(self) -> None:
        self._closed = True
        with self._lock:
            for w in self._all:
                w.kill()
            self._all.clear()


def function_env(spec: FunctionSpec, overrides: dict[str, str]) -> dict[str, str]:
    """The environment a function sees: Lambda's reserved variables, the template's, then local overrides."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_RUNTIME_DIR")}
    env.update({
        "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": overrides.get("AWS_REGION", "us-east-1"),
        "AWS_DEFAULT_REGION": overrides.get("AWS_REGION", "us-east-1"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    env.update({k: v for k, v in spec.environment.items() if v != ""})
    env.update(overrides)
    return env
