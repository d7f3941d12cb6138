"""Telling a partition that still holds what was loaded from one that was replaced."""

from __future__ import annotations

from streams.continuity import Found, LastLoaded, difference
from streams.sinks.base import Batch, value_sha256

VALUE = b'{"event_id": "7e0a3c1e-9a4b-4c2d-8f1e-2b3c4d5e6f70"}'
LOADED = LastLoaded(offset=41, value_sha256=value_sha256(VALUE))


def test_the_same_value_at_the_same_offset_is_the_same_partition() -> None:
    assert difference(LOADED, Found(41, VALUE)) is None


def test_another_value_at_the_offset_loaded_means_the_partition_was_replaced() -> None:
    reason = difference(LOADED, Found(41, VALUE.replace(b"7e0a", b"0000")))
    assert reason is not None and "offset 41" in reason


def test_a_record_with_no_value_is_told_from_an_empty_one() -> None:
    tombstone = LastLoaded(offset=41, value_sha256=value_sha256(None))
    assert difference(tombstone, Found(41, None)) is None
    assert difference(tombstone, Found(41, b"")) is not None


def test_a_partition_shorter_than_what_was_loaded_was_replaced() -> None:
    # Sought past the end, Kafka jumps back to the beginning (Tansu's silence is told by its tail).
    assert difference(LOADED, Found(0, b"{}")) is not None


def test_records_removed_by_retention_cannot_be_compared_and_do_not_stop_the_loader() -> None:
    assert difference(LOADED, Found(57, b"{}")) is None


def test_a_batch_keeps_the_value_of_the_last_record_of_each_partition() -> None:
    batch = Batch()
    batch.cover("t.sales", 0, 10, 12, b"first poll")
    batch.cover("t.sales", 0, 10, 15, VALUE)  # a later poll extends the range
    [covered] = batch.ranges.values()
    assert (covered.start, covered.end, covered.last_value_sha256) == (10, 15, value_sha256(VALUE))
