"""`smartcourse.msk`: the records of an MSK event as Lambda delivers them."""

from __future__ import annotations

import base64

import pytest

from smartcourse import msk


def _event(*records: dict[str, object]) -> dict[str, object]:
    return {"eventSource": "aws:kafka", "records": {"t-0": list(records[:1]), "t-1": list(records[1:])}}


def test_records_are_listed_by_partition_and_decoded() -> None:
    first = {"topic": "t", "partition": 0, "offset": 4, "key": base64.b64encode(b"agg").decode(),
             "value": base64.b64encode(b'{"a": 1}').decode(),
             "headers": [{"TraceParent": list(b"00-ab")}, {"signed": [-1, 65]}, {"traceparent": list(b"00-cd")}]}
    second = {"topic": "t", "partition": 1, "offset": 9, "value": base64.b64encode(b"v").decode(), "headers": []}
    got = list(msk.records(_event(first, second)))
    assert [(r.topic, r.partition, r.offset) for r in got] == [("t", 0, 4), ("t", 1, 9)]
    assert got[0].decoded_key == b"agg" and got[0].decoded_value == b'{"a": 1}'
    # names lower-cased, the last of a repeated name kept; Java's signed bytes read as unsigned
    assert got[0].decoded_headers == {"traceparent": b"00-cd", "signed": b"\xffA"}
    assert got[1].key is None and got[1].decoded_key is None and got[1].decoded_headers == {}


def test_a_tombstone_has_no_value() -> None:
    (r,) = msk.records({"records": {"t-0": [{"topic": "t", "partition": 0, "offset": 0, "value": None}]}})
    assert r.value is None and r.decoded_value is None


def test_decoding_fails_on_the_record_not_on_the_listing() -> None:
    bad = {"topic": "t", "partition": 0, "offset": 1, "key": "%%%", "value": "abc!", "headers": [{"h": "text"}]}
    (r,) = msk.records({"records": {"t-0": [bad]}})  # listed without decoding anything
    for read in (lambda: r.decoded_key, lambda: r.decoded_value, lambda: r.decoded_headers):
        with pytest.raises(msk.MalformedRecord):
            read()


def test_an_event_without_records_lists_none() -> None:
    assert list(msk.records({"eventSource": "aws:kafka"})) == []
