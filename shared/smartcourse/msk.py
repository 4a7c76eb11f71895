"""The records of an MSK (or self-managed Kafka) event, as Lambda delivers them.

Lambda groups the records by "topic-partition"; each has its topic, partition and offset, a
base64 key (absent for a keyless record) and value, and headers as a list of one-entry objects
whose value is the header's bytes as a list of integers (signed when the producer was Java).
Decoding is lazy, on the first read of a property, so a record whose base64 is broken raises
where the consumer handles that record (a poison record), not when the batch is listed.

Powertools' `KafkaEvent` reads the same fields; importing it loads every one of Powertools' event
classes (about 25 ms of each consumer's cold start, measured with `-X importtime`), so the
consumers use this module instead. Header names are lower-cased, as Powertools does, and a name
given twice keeps its last value.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any


class MalformedRecord(ValueError):
    """A record's key, value or headers cannot be decoded."""


class MskRecord:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    @property
    def topic(self) -> str:
        return str(self._data["topic"])

    @property
    def partition(self) -> int:
        return int(self._data["partition"])

    @property
    def offset(self) -> int:
        return int(self._data["offset"])

    @property
    def key(self) -> str | None:
        """The key as delivered (base64), None for a keyless record."""
        key = self._data.get("key")
        return None if key is None else str(key)

    @property
    def value(self) -> str | None:
        """The value as delivered (base64), None for a tombstone."""
        value = self._data.get("value")
        return None if value is None else str(value)

    @cached_property
    def decoded_key(self) -> bytes | None:
        return None if self.key is None else _b64(self.key, "key")

    @cached_property
    def decoded_value(self) -> bytes | None:
        return None if self.value is None else _b64(self.value, "value")

    @cached_property
    def decoded_headers(self) -> dict[str, bytes]:
        """Header names lower-cased; values as bytes (a signed Java byte -1 is 0xff)."""
        out: dict[str, bytes] = {}
        try:
            for entry in self._data.get("headers") or ():
                for name, values in entry.items():
                    out[str(name).lower()] = bytes(b & 0xFF for b in values)
        except (AttributeError, TypeError) as exc:
            raise MalformedRecord(f"headers: {exc}") from exc
        return out


def records(event: Mapping[str, Any]) -> Iterator[MskRecord]:
    """The event's records, partition by partition, in offset order within each (as delivered)."""
    for chunk in (event.get("records") or {}).values():
        for record in chunk:
            yield MskRecord(record)


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedRecord(f"{what} is not base64: {exc}") from exc
