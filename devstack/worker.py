"""A warm Lambda "container": one process per concurrent instance of a function.

Started by the runtime with the function's code and layers on sys.path and its template
environment. Reads one JSON request per line on stdin, writes one JSON response per line on
the original stdout; whatever the function prints goes to stderr (the function's log stream).
The handler module is imported on the first request, so that request is the cold start.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid
from typing import Any


class LambdaContext:
    def __init__(self, function_name: str, memory: int, deadline_ms: float, request_id: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory
        self.aws_request_id = request_id
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/{os.getpid()}"
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


def main() -> int:
    code_uri, handler, function_name, memory = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    layers = [p for p in sys.argv[5:] if p]
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    sys.path[:0] = [code_uri, *layers]
    os.chdir(code_uri)
    module_name, func_name = handler.rsplit(".", 1)
    fn: Any = None
    for line in sys.stdin:
        req = json.loads(line)
        started = time.perf_counter()
        init_ms = 0.0
        try:
            if fn is None:
                t0 = time.perf_counter()
                fn = getattr(importlib.import_module(module_name), func_name)
                init_ms = (time.perf_counter() - t0) * 1000
            ctx = LambdaContext(function_name, memory, req["deadline_ms"], req.get("request_id") or str(uuid.uuid4()))
            result = fn(req["event"], ctx)
            resp: dict[str, Any] = {"ok": True, "result": result}
        except Exception as exc:  # the runtime reports any handler error, as Lambda does
            resp = {
                "ok": False,
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exception(exc),
            }
        resp["init_ms"] = init_ms
        resp["duration_ms"] = (time.perf_counter() - started) * 1000
        proto.write(json.dumps(resp, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
