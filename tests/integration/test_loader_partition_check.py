"""The loader resumes only partitions that still hold what the warehouse loaded from them.

A broker that lost its topics (the embedded one keeps them in memory) hands out offset 0 again
under the same names: resuming from the stored offsets would skip every new record below them.
"""

from __future__ import annotations

import time

import duckdb
import psycopg
import pytest

from journeys.errors import describe
from journeys.status import gather
from journeys_core.settings import KafkaSettings, LoaderSettings, WarehouseSettings
from journeys_core.warehouse import parse_url
from streams.broker import EmbeddedBroker
from streams.continuity import PartitionReplaced
from streams.topics import ensure_topics
from tests.helpers import load, publish, query

MALFORMED = b'{"event_id": "not-a-uuid", "truncated":'


def _records(count: int, seed: int) -> list[tuple[str, bytes, bytes]]:
    from tests.events import stream

    records = list(stream(count, seed=seed))
    # Rejected records at the end of some partitions: the check compares any record by its bytes.
    return records + [(department, key, MALFORMED) for department, key, _ in records[:3]]


def _stored(url: str) -> int:
    return int(query(url, "select count(*) from raw.touchpoints")[0][0])


def test_a_partition_that_still_holds_what_was_loaded_is_resumed(
    kafka: KafkaSettings, loader_settings: LoaderSettings, warehouse_url: str
) -> None:
    publish(kafka, _records(300, seed=1))
    assert load(kafka, loader_settings, warehouse_url).loaded == 300

    publish(kafka, _records(200, seed=2))
    started = time.monotonic()
    stats = load(kafka, loader_settings, warehouse_url)
    print(f"second load, with the partition check: {time.monotonic() - started:.1f} s")
    assert stats.loaded == 200
    assert _stored(warehouse_url) == 500


def test_a_broker_that_lost_its_topics_stops_the_loader_before_it_loads(
    loader_settings: LoaderSettings, warehouse_url: str
) -> None:
    names = {"topic_prefix": "lost", "consumer_group": "lost-loader"}
    with EmbeddedBroker(partitions=3) as first:
        kafka = first.settings().model_copy(update=names)
        ensure_topics(kafka)
        publish(kafka, _records(300, seed=3))
        assert load(kafka, loader_settings, warehouse_url).loaded == 300

    # A new broker under the same names: some partitions hold fewer records than were loaded from
    # them, others more, none the same ones.
    with EmbeddedBroker(partitions=3) as second:
        kafka = second.settings().model_copy(update=names)
        ensure_topics(kafka)
        publish(kafka, _records(420, seed=4))

        with pytest.raises(PartitionReplaced) as refused:
            load(kafka, loader_settings, warehouse_url)
        message = describe(refused.value)
        assert message is not None
        assert "lost.sales partition" in message
        assert "JOURNEYS_KAFKA_TOPIC_PREFIX" in message
        assert _stored(warehouse_url) == 300  # nothing loaded, nothing skipped for good

        # What the message says to do: the same events under new topic names load in full.
        renamed = kafka.model_copy(update={"topic_prefix": "lost-2"})
        ensure_topics(renamed)
        publish(renamed, _records(420, seed=4))
        assert load(renamed, loader_settings, warehouse_url).loaded == 420
        assert _stored(warehouse_url) == 720

    # A broker that holds fewer records than were loaded: `journeys status` flags it (not "lag 0")
    # and the loader refuses it.
    with EmbeddedBroker(partitions=3) as third:
        kafka = third.settings().model_copy(update=names)
        ensure_topics(kafka)
        publish(kafka, _records(30, seed=5))
        view = gather(kafka, WarehouseSettings(url=warehouse_url))
        assert [lag.replaced for lag in view.lags] == [True, True, True]
        # Tansu answers a fetch past a partition's end with nothing: its tail tells.
        with pytest.raises(PartitionReplaced, match="it ends at offset"):
            load(kafka, loader_settings, warehouse_url)
        assert _stored(warehouse_url) == 720


def test_a_warehouse_from_before_the_check_gets_its_column_and_loads(
    kafka: KafkaSettings, loader_settings: LoaderSettings, warehouse_url: str
) -> None:
    # raw.ingest_offsets as loaders before the partition check created it.
    old_table = (
        "create schema if not exists raw; create table raw.ingest_offsets (consumer_group text not null, "
        "topic text not null, kafka_partition integer not null, next_offset bigint not null, "
        "updated_at timestamptz not null, primary key (consumer_group, topic, kafka_partition))"
    )
    target = parse_url(warehouse_url)
    if target.kind == "duckdb":
        with duckdb.connect(str(target.path)) as con:
            con.execute(old_table)
    else:
        with psycopg.connect(target.conninfo, autocommit=True) as con:
            con.execute(old_table)

    publish(kafka, _records(30, seed=6))
    assert load(kafka, loader_settings, warehouse_url).loaded == 30
    stored = query(warehouse_url, "select count(*), count(last_value_sha256) from raw.ingest_offsets")
    assert stored[0][0] > 0 and stored[0][0] == stored[0][1]
