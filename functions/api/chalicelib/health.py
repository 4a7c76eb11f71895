"""GET /health: postgres, kafka and s3, each ok or failing; 503 when any fails."""

from __future__ import annotations

from collections.abc import Callable

from chalice import Blueprint, Response

from chalicelib import deps
from chalicelib.web import json_response, route

bp = Blueprint(__name__)


def _postgres() -> None:
    deps.database().ping()


def _kafka() -> None:
    """A broker answers an ApiVersions request (a TCP connect alone proves too little)."""
    from smartcourse.kafka_probe import probe

    s = deps.settings()
    probe(s.kafka_bootstrap_servers, timeout=2.0, use_tls=s.kafka_security_protocol != "PLAINTEXT")


def _s3() -> None:
    deps.s3().head_bucket(Bucket=deps.settings().assets_bucket)


CHECKS: dict[str, Callable[[], None]] = {"postgres": _postgres, "kafka": _kafka, "s3": _s3}


@route(bp, "/health", methods=["GET"])
def health() -> Response:
    deps.settings()  # a configuration error is a failure of the function, not a dependency
    results: dict[str, dict[str, str]] = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = {"status": "ok"}
        except Exception as exc:  # report, never raise: this is the health page
            results[name] = {"status": "failing", "error": f"{type(exc).__name__}: {exc}"[:300]}
    healthy = all(r["status"] == "ok" for r in results.values())
    return json_response({"status": "ok" if healthy else "degraded", "dependencies": results},
                         200 if healthy else 503)
