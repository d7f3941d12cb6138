"""Telling a partition that still holds what was loaded from one that was replaced."""

from __future__ import annotations

from streams.continuity import Found, difference, event_id_of
from streams.sinks.base import LoadedRecord

EVENT = "7e0a3c1e-9a4b-4c2d-8f1e-2b3c4d5e6f70"
TOUCHPOINT = LoadedRecord(offset=41, rejected=False, event_id=EVENT)
REJECTED = LoadedRecord(offset=41, rejected=True, payload=b'{"event_id": "not-a-uuid"')
TOMBSTONE = LoadedRecord(offset=41, rejected=True, payload=None)  # a record with a null value


def test_the_same_touchpoint_at_the_same_offset_is_the_same_partition() -> None:
    value = b'{"event_id": "' + EVENT.upper().encode() + b'", "event_type": "sales.order_placed"}'
    assert difference(TOUCHPOINT, Found(41, value)) is None


def test_another_event_at_the_offset_loaded_means_the_partition_was_replaced() -> None:
    value = b'{"event_id": "00000000-0000-4000-8000-000000000000"}'
    reason = difference(TOUCHPOINT, Found(41, value))
    assert reason is not None and EVENT in reason


def test_a_rejected_record_is_compared_byte_for_byte() -> None:
    assert difference(REJECTED, Found(41, REJECTED.payload)) is None
    assert difference(REJECTED, Found(41, b'{"event_id": "other"')) is not None
    assert difference(REJECTED, Found(41, None)) is not None


def test_a_rejected_record_with_no_value_is_the_same_when_the_broker_has_no_value_there() -> None:
    assert difference(TOMBSTONE, Found(41, None)) is None
    assert difference(TOMBSTONE, Found(41, b"{}")) is not None


def test_a_partition_shorter_than_what_was_loaded_was_replaced() -> None:
    # Sought past the end, Kafka jumps back to the beginning (Tansu's silence is told by its tail).
    assert difference(TOUCHPOINT, Found(0, b"{}")) is not None


def test_records_removed_by_retention_cannot_be_compared_and_do_not_stop_the_loader() -> None:
    assert difference(TOUCHPOINT, Found(57, b"{}")) is None


def test_event_ids_are_read_leniently() -> None:
    assert event_id_of(b'{"event_id": "ABC"}') == "abc"
    assert event_id_of(b"not json") is None
    assert event_id_of(b'["a list"]') is None
    assert event_id_of(None) is None
