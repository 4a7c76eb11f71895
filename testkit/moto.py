"""What moto's server recorded (its `/moto-api/data.json`): the emails SES accepted, the texts SNS
accepted. moto serialises its whole state for that page while other requests change it, and then
answers 500 now and then (seen in a full run beside other work); such a read is tried again."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

ATTEMPTS = 5


def moto_data(endpoint: str, *, attempts: int = ATTEMPTS, pause_s: float = 0.2) -> dict[str, Any]:
    """moto's recorded state; a 5xx is retried up to `attempts` times, any other error raised."""
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=30) as resp:
                data: dict[str, Any] = json.loads(resp.read())
                return data
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or attempt == attempts:
                raise
            time.sleep(pause_s * attempt)
    raise AssertionError("unreachable")


def texts_to(endpoint: str, number: str) -> list[str]:
    """What moto's SNS was asked to text to `number` (moto records every SMS it accepts)."""
    return [m["message"] for m in moto_data(endpoint).get("sns", {}).get("SMS", []) if m.get("phone_number") == number]
