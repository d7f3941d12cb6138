"""Where each topic partition ends: what `journeys status` compares the stored offsets with."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition

from journeys_core.settings import KafkaSettings
from streams.kafka_config import client_options
from streams.topics import department_topics


def log_ends(kafka: KafkaSettings, *, quiet_seconds: float = 0.5) -> dict[tuple[str, int], int]:
    """The next offset each department partition will get: one past its last record.

    Not just `end_offsets`: Tansu answers ListOffsets(latest) with the first offset of the last
    record batch, not one past its last record, so the tail is read from there to find the real end.
    """
    consumer = KafkaConsumer(**client_options(kafka), enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, partition)
            for topic in department_topics(kafka)
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        ends = dict(consumer.end_offsets(partitions))
        consumer.assign(partitions)
        for tp, end in ends.items():
            consumer.seek(tp, end)
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < quiet_seconds:
            records = consumer.poll(timeout_ms=100)
            for tp, messages in records.items():
                ends[tp] = max(ends[tp], messages[-1].offset + 1)
                quiet_since = time.monotonic()
        return {(tp.topic, tp.partition): end for tp, end in ends.items()}
    finally:
        consumer.close()
