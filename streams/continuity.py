"""Before the loader resumes a partition, check that the broker still holds what was loaded from it.

Offsets identify records only within one life of a topic. When a topic is deleted and re-created,
or a broker loses its data (the embedded broker keeps everything in memory), the same names start
again at offset 0: resuming from the stored offset would skip the new records below it, and
staging (incremental by offset) would never see them. Each batch stores, with its offsets, the
SHA-256 of the last record's value it covers per partition; the record at that offset is read back
from the broker and compared, and a partition that no longer holds it stops the loader with what
to do, before anything is loaded.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from journeys_core.settings import KafkaSettings
from streams.kafka_config import client_options
from streams.offsets import read_partition_ends
from streams.sinks.base import value_sha256
from streams.topics import BrokerUnavailable

_FETCH_TIMEOUT_S = 5.0
_ATTEMPTS = 3

log = logging.getLogger(__name__)


class PartitionReplaced(Exception):
    """A partition no longer holds the records the warehouse loaded from it."""


@dataclass(frozen=True)
class Found:
    """The first record the broker returned for a partition sought at an offset."""

    offset: int
    value: bytes | None


@dataclass(frozen=True)
class LastLoaded:
    """The last record loaded from a partition: its offset and the SHA-256 of its value."""

    offset: int
    value_sha256: str


def difference(loaded: LastLoaded, at: Found) -> str | None:
    """Why the partition is not the one `loaded` came from, or None when it is (or cannot be told).

    `at` is the first record the broker returned after a seek to `loaded.offset`.
    """
    if at.offset < loaded.offset:
        # Sought past the end, the client jumped back to the beginning: the partition is shorter.
        return f"it ends before offset {loaded.offset}, which the warehouse loaded from it"
    if at.offset > loaded.offset:
        return None  # removed by retention or compaction: older records go first, normally
    if value_sha256(at.value) != loaded.value_sha256:
        return f"its record at offset {loaded.offset} is not the one the warehouse loaded from there"
    return None


def _first_records(kafka: KafkaSettings, offsets: dict[TopicPartition, int]) -> dict[TopicPartition, Found]:
    """The first record at or after each offset that the broker returns within the timeout."""
    # Past the end, jump to the beginning: a record below the offset sought shows the partition is shorter.
    consumer = KafkaConsumer(
        **client_options(kafka), group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    found: dict[TopicPartition, Found] = {}
    try:
        consumer.assign(list(offsets))
        for tp, offset in offsets.items():
            consumer.seek(tp, offset)
        deadline = time.monotonic() + _FETCH_TIMEOUT_S
        while len(found) < len(offsets) and time.monotonic() < deadline:
            for tp, messages in consumer.poll(timeout_ms=200).items():
                if tp not in found and messages:
                    found[tp] = Found(messages[0].offset, messages[0].value)
                    consumer.pause(tp)
        return found
    finally:
        consumer.close()


def _check_once(
    kafka: KafkaSettings, loaded: dict[TopicPartition, LastLoaded]
) -> tuple[list[str], list[TopicPartition]]:
    """Reasons partitions were replaced, and the partitions that could not be told either way."""
    at = _first_records(kafka, {tp: record.offset for tp, record in loaded.items()})
    problems = []
    for tp, record in sorted(loaded.items()):
        reason = difference(record, at[tp]) if tp in at else None
        if reason is not None:
            problems.append(f"{tp.topic} partition {tp.partition}: {reason}")
    silent = [tp for tp in loaded if tp not in at]
    if not silent:
        return problems, []
    # Nothing came back at the offset loaded from. Some brokers (Tansu) answer a fetch past the
    # end with nothing, others were only slow: decide by where the partition really ends.
    tails = read_partition_ends(kafka, silent)
    unsure = []
    for tp in sorted(silent):
        end = tails.ends.get((tp.topic, tp.partition))
        if tails.confirmed((tp.topic, tp.partition)) and end is not None and end <= loaded[tp].offset:
            problems.append(
                f"{tp.topic} partition {tp.partition}: it ends at offset {end}, before offset "
                f"{loaded[tp].offset}, which the warehouse loaded from it"
            )
        else:
            unsure.append(tp)
    return problems, unsure


def check_partitions(kafka: KafkaSettings, loaded: dict[TopicPartition, LastLoaded]) -> None:
    """Raise PartitionReplaced when a partition no longer holds the last record loaded from it.

    Partitions the broker does not answer for are asked again, with backoff; BrokerUnavailable
    when they still cannot be told.
    """
    if not loaded:
        return  # nothing stored from these partitions yet: no broker connection to open
    pending = dict(loaded)
    delay = 1.0
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            problems, unsure = _check_once(kafka, pending)
        except KafkaError as error:  # the broker went away mid-check: ask again
            problems, unsure = [], list(pending)
            log.warning("checking partitions failed (%s)", error)
        if problems:
            shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
            raise PartitionReplaced(
                f"the broker's partitions are not the ones the warehouse loaded from ({shown}): the "
                "topics were deleted and re-created, or the broker lost its data (the embedded broker "
                "keeps it in memory only). Nothing was loaded. Publish and load under new topic names: "
                "set JOURNEYS_KAFKA_TOPIC_PREFIX (e.g. touchpoints-2) for the producers and the loader"
            )
        if not unsure:
            return
        pending = {tp: pending[tp] for tp in unsure}
        if attempt < _ATTEMPTS:
            log.warning(
                "could not read %d partitions back to check them; asking again in %.0f s", len(unsure), delay
            )
            time.sleep(delay)
            delay *= 2
    names = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(pending))
    raise BrokerUnavailable(
        f"cannot read {names} back from the broker to check that they still hold what the warehouse "
        f"loaded from them (nothing came back in {_ATTEMPTS} attempts, not even their last records): "
        "the broker is slow or unwell. Try again; if the topics were re-created, publish and load "
        "under new topic names (JOURNEYS_KAFKA_TOPIC_PREFIX)"
    )
