"""Where each topic partition ends: what `journeys status` compares the stored offsets with."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition

from journeys_core.settings import KafkaSettings
from streams.kafka_config import client_options
from streams.topics import department_topics


@dataclass(frozen=True)
class LogEnds:
    """Where each department partition ends, and which ends were confirmed by reading the tail."""

    ends: dict[tuple[str, int], int]  # one past the last record
    # Partitions whose last record came back: the others may be empty, or the broker was slow.
    read: set[tuple[str, int]] = field(default_factory=set)


def log_ends(kafka: KafkaSettings, *, quiet_seconds: float = 0.5) -> dict[tuple[str, int], int]:
    """The next offset each department partition will get: one past its last record."""
    return read_log_ends(kafka, quiet_seconds=quiet_seconds).ends


def read_log_ends(
    kafka: KafkaSettings, *, quiet_seconds: float = 0.5, topics: Iterable[str] | None = None
) -> LogEnds:
    """Each department partition's end (or each partition of `topics`), read from its tail.

    Not just `end_offsets`: Tansu answers ListOffsets(latest) with the first offset of the last
    record batch, not one past its last record, so the tail is read to find the real end. An empty
    partition, or one the broker is slow to return, is not in `read`.
    """
    consumer = KafkaConsumer(**client_options(kafka), enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, partition)
            for topic in (department_topics(kafka) if topics is None else sorted(topics))
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        ends = dict(consumer.end_offsets(partitions))
        starts = consumer.beginning_offsets(partitions)
        read: set[tuple[str, int]] = set()
        consumer.assign(partitions)
        for tp, end in ends.items():
            # From the record before the end a broker reports, so that the last record comes back
            # from brokers that report the end exactly too.
            consumer.seek(tp, max(end - 1, starts[tp]))
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < quiet_seconds:
            records = consumer.poll(timeout_ms=100)
            for tp, messages in records.items():
                ends[tp] = max(ends[tp], messages[-1].offset + 1)
                read.add((tp.topic, tp.partition))
                quiet_since = time.monotonic()
        return LogEnds({(tp.topic, tp.partition): end for tp, end in ends.items()}, read)
    finally:
        consumer.close()
