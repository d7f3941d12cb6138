"""Where each topic partition really ends: for `journeys status`, "caught up" and the partition check."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition

from journeys_core.settings import KafkaSettings
from streams.kafka_config import client_options
from streams.topics import department_topics

# How long to wait for a partition's last records to come back before leaving its end unconfirmed.
_ANSWER_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class LogEnds:
    """Where each partition ends, and which ends are known rather than only a lower bound."""

    ends: dict[tuple[str, int], int]  # one past the last record
    # Partitions whose last record came back: the others may be empty, or the broker was slow.
    read: set[tuple[str, int]] = field(default_factory=set)
    # Partitions the broker reports holding nothing (first offset == end): exact on every broker.
    empty: set[tuple[str, int]] = field(default_factory=set)

    def confirmed(self, partition: tuple[str, int]) -> bool:
        """Its end is known; otherwise the broker's end is only a lower bound (Tansu reports it short)."""
        return partition in self.read or partition in self.empty


def log_ends(kafka: KafkaSettings, *, quiet_seconds: float = 0.5) -> dict[tuple[str, int], int]:
    """The next offset each department partition will get: one past its last record."""
    return read_log_ends(kafka, quiet_seconds=quiet_seconds).ends


def read_log_ends(
    kafka: KafkaSettings, *, quiet_seconds: float = 0.5, topics: Iterable[str] | None = None
) -> LogEnds:
    """Each department partition's end (or each partition of `topics`), read from its tail."""
    consumer = KafkaConsumer(**client_options(kafka), enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, partition)
            for topic in (department_topics(kafka) if topics is None else sorted(topics))
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        return _read_tails(consumer, partitions, quiet_seconds)
    finally:
        consumer.close()


def read_partition_ends(
    kafka: KafkaSettings, partitions: Iterable[TopicPartition], *, quiet_seconds: float = 0.5
) -> LogEnds:
    """The ends of these partitions only, read from their tails (the loader's own assignment)."""
    consumer = KafkaConsumer(**client_options(kafka), enable_auto_commit=False)
    try:
        return _read_tails(consumer, sorted(partitions), quiet_seconds)
    finally:
        consumer.close()


def _read_tails(consumer: KafkaConsumer, partitions: list[TopicPartition], quiet_seconds: float) -> LogEnds:
    """Not just `end_offsets`: Tansu answers ListOffsets(latest) with one past the first record of
    the last record batch, so the tail is read from there to find the real end.

    A non-empty partition whose records do not come back in time is not in `read`: its end is
    only the broker's, a lower bound.
    """
    reported = consumer.end_offsets(partitions)
    starts = consumer.beginning_offsets(partitions)
    # From the record before the end a broker reports: it exists on every broker, and Tansu
    # returns its whole batch, up to the real end.
    anchors = {tp: end - 1 for tp, end in reported.items() if end > starts[tp]}
    seen = _read_from(consumer, anchors, quiet_seconds)
    return LogEnds(
        {(tp.topic, tp.partition): max(end, seen.get(tp, end)) for tp, end in reported.items()},
        read={(tp.topic, tp.partition) for tp in seen},
        empty={(tp.topic, tp.partition) for tp in reported if tp not in anchors},
    )


def _read_from(
    consumer: KafkaConsumer, anchors: dict[TopicPartition, int], quiet_seconds: float
) -> dict[TopicPartition, int]:
    """One past the last record each partition returns when read from its anchor offset.

    Reads until every partition has answered and none returned more for `quiet_seconds`, or the
    answer timeout passed; partitions that returned nothing are left out.
    """
    if not anchors:
        return {}
    consumer.assign(list(anchors))
    for tp, offset in anchors.items():
        consumer.seek(tp, offset)
    seen: dict[TopicPartition, int] = {}
    started = last_record = time.monotonic()
    while time.monotonic() - started < _ANSWER_TIMEOUT_S:
        if len(seen) == len(anchors) and time.monotonic() - last_record >= quiet_seconds:
            break
        for tp, messages in consumer.poll(timeout_ms=100).items():
            if messages:
                seen[tp] = max(seen.get(tp, 0), messages[-1].offset + 1)
                last_record = time.monotonic()
    return seen
