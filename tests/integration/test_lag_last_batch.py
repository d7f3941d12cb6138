"""Lag that is true on the embedded broker, whose end of a partition is short while records wait.

Tansu answers ListOffsets(latest) with one past the FIRST record of a partition's last record
batch: after a batch of 10 and a batch of 5, it says 11 while offsets 0-14 are there (Kafka says
15). `journeys status`, the loader's "caught up" and the Airflow drain must all see the 15.
"""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from journeys.pipeline import ingest
from journeys.status import TopicLag, gather
from journeys_core.settings import KafkaSettings, LoaderSettings, PrivacySettings, WarehouseSettings
from streams.consume import Loader
from streams.kafka_config import client_options
from streams.offsets import read_partition_ends
from streams.sinks import open_sink
from tests.events import stream
from tests.helpers import load, query


def _sales(count: int, seed: int) -> list[tuple[bytes, bytes]]:
    """`count` valid sales events as (key, value)."""
    records = [
        (key, value) for department, key, value in stream(4 * count, seed=seed) if department == "sales"
    ]
    return records[:count]


def _publish_batch(kafka: KafkaSettings, records: list[tuple[bytes, bytes]]) -> None:
    """The records as ONE record batch in partition 0 of the sales topic (a long linger, then flush)."""
    producer = KafkaProducer(**client_options(kafka), linger_ms=5000, acks="all")
    try:
        for key, value in records:
            producer.send(kafka.topic("sales"), key=key, value=value, partition=0)
        producer.flush(timeout=30)
    finally:
        producer.close()


def _reported_end(kafka: KafkaSettings, tp: TopicPartition) -> int:
    consumer = KafkaConsumer(**client_options(kafka), enable_auto_commit=False)
    try:
        return int(consumer.end_offsets([tp])[tp])
    finally:
        consumer.close()


def _two_batches(kafka: KafkaSettings, first: int = 10, second: int = 5) -> TopicPartition:
    records = _sales(first + second, seed=31)
    _publish_batch(kafka, records[:first])
    _publish_batch(kafka, records[first:])
    return TopicPartition(kafka.topic("sales"), 0)


def _sales_lag(kafka: KafkaSettings, url: str) -> TopicLag:
    [lag] = [
        lag for lag in gather(kafka, WarehouseSettings(url=url)).lags if lag.topic == kafka.topic("sales")
    ]
    return lag


def _stored(url: str, tp: TopicPartition) -> int:
    where = f"topic = '{tp.topic}' and kafka_partition = {tp.partition}"
    return int(query(url, f"select next_offset from raw.ingest_offsets where {where}")[0][0])


def test_the_embedded_broker_reports_a_partition_end_short_and_its_tail_tells_the_truth(
    kafka: KafkaSettings,
) -> None:
    tp = _two_batches(kafka)
    # The broker fact these tests are about (Apache Kafka would say 15).
    assert _reported_end(kafka, tp) == 11
    tails = read_partition_ends(kafka, [tp])
    assert tails.ends[(tp.topic, tp.partition)] == 15
    assert tails.confirmed((tp.topic, tp.partition))


def test_status_counts_the_records_waiting_in_the_last_batch(
    kafka: KafkaSettings, loader_settings: LoaderSettings, duckdb_url: str
) -> None:
    tp = TopicPartition(kafka.topic("sales"), 0)
    records = _sales(15, seed=32)
    _publish_batch(kafka, records[:10])
    assert load(kafka, loader_settings, duckdb_url).loaded == 10
    _publish_batch(kafka, records[10:])
    assert _reported_end(kafka, tp) == 11  # one past the first record of the last batch

    waiting = _sales_lag(kafka, duckdb_url)
    assert (waiting.end, waiting.stored, waiting.lag, waiting.unconfirmed) == (15, 10, 5, False)

    assert load(kafka, loader_settings, duckdb_url).loaded == 5
    assert _reported_end(kafka, tp) == 11  # still short, below what was loaded
    caught_up = _sales_lag(kafka, duckdb_url)
    assert (caught_up.end, caught_up.stored, caught_up.lag, caught_up.unconfirmed) == (15, 15, 0, False)


def test_the_loader_is_not_caught_up_while_records_wait_past_a_short_end(
    kafka: KafkaSettings, loader_settings: LoaderSettings, duckdb_url: str
) -> None:
    tp = _two_batches(kafka)
    loader = Loader(kafka, loader_settings, open_sink(duckdb_url))
    loader.consumer = KafkaConsumer(**client_options(kafka), enable_auto_commit=False)
    try:
        loader.consumer.assign([tp])
        # Fetched up to 12 (as after a batch that ended there): past the broker's end of 11,
        # while 12, 13 and 14 wait.
        loader.positions = {tp: 12}
        loader.fetched = {tp: 12}
        assert not loader._caught_up()
        loader.fetched = {tp: 15}
        assert loader._caught_up()
    finally:
        loader.consumer.close()
        loader.sink.close()
        loader.writer.shutdown()


def test_ingest_until_caught_up_loads_the_last_batch_too(
    kafka: KafkaSettings, loader_settings: LoaderSettings, duckdb_url: str
) -> None:
    tp = _two_batches(kafka)
    assert load(kafka, loader_settings, duckdb_url).loaded == 15
    assert _stored(duckdb_url, tp) == 15


def test_a_loader_stopped_inside_the_last_batch_shows_its_lag_and_the_next_run_loads_the_rest(
    kafka: KafkaSettings, duckdb_url: str
) -> None:
    tp = _two_batches(kafka)
    settings = LoaderSettings(idle_seconds=0.2, batch_max_seconds=1.0, batch_max_records=12)

    def interrupt(_: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C once the first batch (offsets 0-11) is committed

    with pytest.raises(KeyboardInterrupt):
        Loader(kafka, settings, open_sink(duckdb_url), on_batch=interrupt).run()
    assert _stored(duckdb_url, tp) == 12
    assert _reported_end(kafka, tp) == 11  # the broker's end is below what was loaded

    stopped = _sales_lag(kafka, duckdb_url)
    assert (stopped.end, stopped.stored, stopped.lag, stopped.unconfirmed) == (15, 12, 3, False)

    # Resumed at 12, past the broker's end of 11: it must still wait for 12-14 (a short idle time).
    assert load(kafka, settings.model_copy(update={"batch_max_records": 10000}), duckdb_url).loaded == 3
    assert _stored(duckdb_url, tp) == 15


def test_the_airflow_drain_loads_the_last_batch_too(kafka: KafkaSettings, duckdb_url: str) -> None:
    tp = _two_batches(kafka)
    # What dags/journey_ingest.py's drain runs: default loader settings, bounded in time.
    stats = ingest(
        kafka, LoaderSettings(), WarehouseSettings(url=duckdb_url), max_seconds=120, privacy=PrivacySettings()
    )
    assert stats.loaded == 15
    assert _stored(duckdb_url, tp) == 15
