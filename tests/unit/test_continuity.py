"""Telling a partition that still holds what was loaded from one that was replaced."""

from __future__ import annotations

from streams.continuity import Found, difference, event_id_of
from streams.sinks.base import LoadedRecord

EVENT = "7e0a3c1e-9a4b-4c2d-8f1e-2b3c4d5e6f70"
TOUCHPOINT = LoadedRecord(offset=41, event_id=EVENT, payload=None)
REJECTED = LoadedRecord(offset=41, event_id=None, payload=b'{"event_id": "not-a-uuid"')


def test_the_same_touchpoint_at_the_same_offset_is_the_same_partition() -> None:
    value = b'{"event_id": "' + EVENT.upper().encode() + b'", "event_type": "sales.order_placed"}'
    assert difference(TOUCHPOINT, Found(41, value), answered=False) is None


def test_another_event_at_the_offset_loaded_means_the_partition_was_replaced() -> None:
    value = b'{"event_id": "00000000-0000-4000-8000-000000000000"}'
    reason = difference(TOUCHPOINT, Found(41, value), answered=False)
    assert reason is not None and EVENT in reason


def test_a_rejected_record_is_compared_byte_for_byte() -> None:
    assert difference(REJECTED, Found(41, REJECTED.payload), answered=False) is None
    assert difference(REJECTED, Found(41, b'{"event_id": "other"'), answered=False) is not None
    assert difference(REJECTED, Found(41, None), answered=False) is not None


def test_a_partition_shorter_than_what_was_loaded_was_replaced() -> None:
    # Kafka jumps back to the beginning when the offset sought is past the end ...
    assert difference(TOUCHPOINT, Found(0, b"{}"), answered=True) is not None
    # ... and some brokers (Tansu) answer with nothing, while records from the beginning come back.
    assert difference(TOUCHPOINT, None, answered=True) is not None


def test_records_removed_by_retention_cannot_be_compared_and_do_not_stop_the_loader() -> None:
    assert difference(TOUCHPOINT, Found(57, b"{}"), answered=False) is None


def test_event_ids_are_read_leniently() -> None:
    assert event_id_of(b'{"event_id": "ABC"}') == "abc"
    assert event_id_of(b"not json") is None
    assert event_id_of(b'["a list"]') is None
    assert event_id_of(None) is None
