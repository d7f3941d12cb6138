"""Scenario 5: the DLQ topic refuses writes. The loader stops, and neither the warehouse nor Kafka
gets the offsets of the batch whose rejected records it could not place; nothing is skipped.

Made real with Tansu's schema registry: a JSON schema for the DLQ topic that no dead letter
matches, so the broker answers every DLQ produce with INVALID_RECORD. Tansu keeps records in
memory only, so "the DLQ is fixed" is a broker without that schema, given the same log again
(same records, same order, same offsets), as a durable broker would still have it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import msgspec
from kafka import KafkaConsumer, TopicPartition

from journeys_core.settings import KafkaSettings
from streams.broker import EmbeddedBroker, free_port
from streams.kafka_config import client_options
from streams.offsets import log_ends
from streams.topics import department_topics, dlq_topic, ensure_topics
from tests.events import stream
from tests.helpers import loader_env, publish, query, run_journeys
from tests.production import BAD_RECORD
from tests.reliability.ledger import assert_exact, take

EVENTS = 20_000
# Malformed records deep into their partitions (~1,700 and ~2,000 of ~2,200 records each), well
# past the first batch (at most 2 x 500 records), so clean batches commit before the stop.
BAD_AT = (15_000, 18_000)


def _records() -> Iterator[tuple[str, bytes, bytes]]:
    for index, (department, key, value) in enumerate(stream(EVENTS, seed=71)):
        if index in BAD_AT:
            yield department, key, BAD_RECORD
        yield department, key, value


def _stored_offsets(url: str, group: str) -> dict[tuple[str, int], int]:
    rows = query(
        url,
        "select topic, kafka_partition, next_offset from raw.ingest_offsets "
        f"where consumer_group = '{group}'",
    )
    return {(topic, partition): offset for topic, partition, offset in rows}


def _kafka_committed(kafka: KafkaSettings) -> dict[tuple[str, int], int]:
    consumer = KafkaConsumer(**client_options(kafka), group_id=kafka.consumer_group, enable_auto_commit=False)
    try:
        committed = {}
        for topic in department_topics(kafka):
            for partition in consumer.partitions_for_topic(topic) or ():
                offset = consumer.committed(TopicPartition(topic, partition))
                if offset is not None:
                    committed[(topic, partition)] = offset
        return committed
    finally:
        consumer.close()


def test_unwritable_dlq_stops_the_loader_without_committing_offsets(tmp_path: Path) -> None:
    records = list(_records())
    event_ids = {msgspec.json.decode(value)["event_id"] for _, _, value in records if value != BAD_RECORD}
    url = f"duckdb:///{tmp_path}/warehouse.duckdb"
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    port = free_port()
    kafka = KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{port}", topic_prefix="dlqtest", consumer_group="dlqtest-loader"
    )
    (schemas / f"{dlq_topic(kafka)}.json").write_text(
        json.dumps({"type": "object", "properties": {"value": {"type": "object", "required": ["never"]}}})
    )
    env = loader_env(kafka, url, JOURNEYS_LOADER_BATCH_MAX_RECORDS="500")

    with EmbeddedBroker(port=port, schema_dir=schemas):
        ensure_topics(kafka)
        publish(kafka, records)
        ends = log_ends(kafka, quiet_seconds=2.0)
        stopped = run_journeys("ingest", env=env)
        assert stopped.returncode == 2, stopped.stderr
        message = " ".join(stopped.stderr.split())
        assert f"error: cannot write rejected records to {dlq_topic(kafka)}" in message, message
        assert "stopping without committing their offsets" in message and "Traceback" not in message
        stored = _stored_offsets(url, kafka.consumer_group)
        committed = _kafka_committed(kafka)
        # Run again: it may store clean records its batches now reach, but again stops at a bad one.
        again = run_journeys("ingest", env=env)
        assert again.returncode == 2, again.stderr
        stored_again = _stored_offsets(url, kafka.consumer_group)
        assert all(stored_again[tp] >= offset for tp, offset in stored.items())

    assert query(url, "select count(*) from raw.quarantine") == [(0,)]
    assert 0 < sum(stored.values()) < sum(ends.values()), "no clean batch committed before the bad one"
    # Kafka's mirror of the offsets is never ahead of the warehouse.
    assert all(committed[tp] <= stored.get(tp, 0) for tp in committed), (committed, stored)

    with EmbeddedBroker(port=port):  # the DLQ writable again: no schema refuses its records
        ensure_topics(kafka)
        publish(kafka, records)
        assert log_ends(kafka, quiet_seconds=2.0) == ends  # the same log, offset for offset
        finished = run_journeys("ingest", env=env)
        assert finished.returncode == 0, finished.stderr

    # Each malformed record sits in a partition whose stored offset had stopped at or before it.
    bad = query(url, "select topic, kafka_partition, kafka_offset from raw.quarantine")
    assert len(bad) == len(BAD_AT)
    for topic, partition, offset in bad:
        for before in (stored, stored_again):
            assert before.get((topic, partition), 0) <= offset, (topic, partition, offset, before)
    ledger = take(
        "DLQ unwritable, then fixed",
        url,
        produced=len(records),
        event_ids=event_ids,
        rejected=len(BAD_AT),
    )
    assert_exact(ledger)
    assert _stored_offsets(url, kafka.consumer_group) == ends
