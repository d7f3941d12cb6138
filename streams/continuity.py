"""Before the loader resumes a partition, check that the broker still holds what was loaded from it.

Offsets identify records only within one life of a topic. When a topic is deleted and re-created,
or a broker loses its data (the embedded broker keeps everything in memory), the same names start
again at offset 0: resuming from the stored offset would skip the new records below it, and
staging (incremental by offset) would never see them. So the last record the warehouse stored from
each partition is read back from the broker and compared; a partition that no longer holds it
stops the loader with what to do, before anything is loaded.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from journeys_core.settings import KafkaSettings
from streams.kafka_config import client_options
from streams.sinks.base import LoadedRecord
from streams.topics import BrokerUnavailable

_FETCH_TIMEOUT_S = 5.0


class PartitionReplaced(Exception):
    """A partition no longer holds the records the warehouse loaded from it."""


@dataclass(frozen=True)
class Found:
    """The first record the broker returned for a partition sought at an offset."""

    offset: int
    value: bytes | None


def event_id_of(value: bytes | None) -> str | None:
    """The event_id a record carries, lower case (as raw.touchpoints stores it), if any."""
    try:
        envelope = json.loads(value or b"")
    except ValueError:
        return None
    event_id = envelope.get("event_id") if isinstance(envelope, dict) else None
    return event_id.lower() if isinstance(event_id, str) else None


def difference(loaded: LoadedRecord, at: Found | None, answered: bool) -> str | None:
    """Why the partition is not the one `loaded` came from, or None when it is (or cannot be told).

    `at` is the first record returned after seeking to `loaded.offset`; `answered` says whether the
    broker showed the partition's records when read from its beginning (asked only when `at` is None).
    """
    if at is None:
        # A broker may answer a fetch past a partition's end with nothing; one that answers from
        # the beginning but not at the offset loaded shows the partition ends before it.
        return (
            f"it ends before offset {loaded.offset}, which the warehouse loaded from it" if answered else None
        )
    if at.offset < loaded.offset:
        # The client jumped back to the beginning: the offset sought is past the partition's end.
        return f"it ends before offset {loaded.offset}, which the warehouse loaded from it"
    if at.offset > loaded.offset:
        return None  # removed by retention or compaction: older records go first, normally
    if loaded.payload is not None:
        if at.value != loaded.payload:
            return f"its record at offset {loaded.offset} differs from the rejected one loaded from there"
        return None
    if event_id_of(at.value) != (loaded.event_id or "").lower():
        return (
            f"its record at offset {loaded.offset} is not event {loaded.event_id}, which the warehouse "
            "loaded from there"
        )
    return None


def _first_records(
    consumer: KafkaConsumer, offsets: dict[TopicPartition, int]
) -> dict[TopicPartition, Found]:
    """The first record at or after each offset that the broker returns within the timeout."""
    consumer.pause(*consumer.assignment())
    for tp, offset in offsets.items():
        consumer.seek(tp, offset)
    consumer.resume(*offsets)
    found: dict[TopicPartition, Found] = {}
    deadline = time.monotonic() + _FETCH_TIMEOUT_S
    while len(found) < len(offsets) and time.monotonic() < deadline:
        for tp, messages in consumer.poll(timeout_ms=200).items():
            if tp in offsets and tp not in found and messages:
                found[tp] = Found(messages[0].offset, messages[0].value)
                consumer.pause(tp)
    return found


def check_partitions(kafka: KafkaSettings, loaded: dict[TopicPartition, LoadedRecord]) -> None:
    """Raise PartitionReplaced when a partition no longer holds the last record loaded from it."""
    if not loaded:
        return
    # Past the end, jump to the beginning: a record below the offset sought shows the partition is shorter.
    consumer = KafkaConsumer(
        **client_options(kafka), group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        consumer.assign(list(loaded))
        at = _first_records(consumer, {tp: record.offset for tp, record in loaded.items()})
        silent = [tp for tp in loaded if tp not in at]
        answered: set[TopicPartition] = set()
        if silent:
            starts = consumer.beginning_offsets(silent)
            ends = consumer.end_offsets(silent)
            answered = set(_first_records(consumer, starts)) | {tp for tp in silent if ends[tp] <= starts[tp]}
    finally:
        consumer.close()
    unread = [tp for tp in silent if tp not in answered]
    if unread:
        names = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(unread))
        raise BrokerUnavailable(
            f"the broker returned no record of {names} within {_FETCH_TIMEOUT_S:.0f} s, so the loader "
            "cannot check that they still hold what the warehouse loaded; try again when it answers"
        )
    problems = []
    for tp, record in sorted(loaded.items()):
        reason = difference(record, at.get(tp), tp in answered)
        if reason is not None:
            problems.append(f"{tp.topic} partition {tp.partition}: {reason}")
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise PartitionReplaced(
            f"the broker's partitions are not the ones the warehouse loaded from ({shown}): the topics "
            "were deleted and re-created, or the broker lost its data (the embedded broker keeps it in "
            "memory only). Nothing was loaded. Publish and load under new topic names: set "
            "JOURNEYS_KAFKA_TOPIC_PREFIX (e.g. touchpoints-2) for the producers and the loader"
        )
