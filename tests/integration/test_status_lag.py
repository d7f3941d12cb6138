"""`journeys status` against a live broker: lag is what the loader has not stored yet, on both warehouses,
and what it has not committed to Kafka while another process holds the DuckDB file."""

from __future__ import annotations

import subprocess
import sys
import time

from journeys.status import gather
from journeys_core.settings import KafkaSettings, LoaderSettings, WarehouseSettings
from streams.topics import admin_client, department_topics, ensure_topics
from tests.events import stream
from tests.helpers import load, publish


def test_lag_counts_what_is_in_kafka_but_not_in_the_warehouse(
    kafka: KafkaSettings, loader_settings: LoaderSettings, warehouse_url: str
) -> None:
    records = list(stream(300, seed=5))
    publish(kafka, records)
    load(kafka, loader_settings, warehouse_url)
    publish(kafka, records[:40])  # 40 more records, not loaded yet

    status = gather(kafka, WarehouseSettings(url=warehouse_url))
    assert status.broker_problem is None
    assert sum(lag.end or 0 for lag in status.lags) == 340
    assert sum(lag.lag or 0 for lag in status.lags) == 40
    assert status.counts["raw.touchpoints"] == 300
    assert status.counts["marts.fct_order_journeys"] is None  # dbt has not run: "not built yet"
    assert {row["department"] for row in status.freshness} == {"sales", "shipping", "support"}
    assert status.last_load is not None

    load(kafka, loader_settings, warehouse_url)
    after = gather(kafka, WarehouseSettings(url=warehouse_url))
    assert sum(lag.lag or 0 for lag in after.lags) == 0
    assert after.counts["raw.touchpoints"] == 300  # the same events again: stored once


def test_records_waiting_in_the_configured_topics_show_next_to_the_last_ones_loaded(
    kafka: KafkaSettings, loader_settings: LoaderSettings, warehouse_url: str
) -> None:
    publish(kafka, list(stream(30, seed=6)))
    load(kafka, loader_settings, warehouse_url)
    # The same consumer group now points at other topics that hold records nobody loaded.
    elsewhere = kafka.model_copy(update={"topic_prefix": f"{kafka.topic_prefix}-next"})
    ensure_topics(elsewhere)
    publish(elsewhere, list(stream(12, seed=7)))

    status = gather(elsewhere, WarehouseSettings(url=warehouse_url))
    lags = {lag.topic: lag.lag for lag in status.lags}
    assert sum(lags[topic] or 0 for topic in department_topics(elsewhere)) == 12
    assert sum(lags[topic] or 0 for topic in department_topics(kafka)) == 0


def test_a_held_duckdb_file_gives_the_lag_from_the_offsets_the_loader_mirrored_into_kafka(
    kafka: KafkaSettings, loader_settings: LoaderSettings, duckdb_url: str
) -> None:
    records = list(stream(120, seed=8))
    publish(kafka, records)
    load(kafka, loader_settings, duckdb_url)
    publish(kafka, records[:25])  # 25 more records, not loaded yet
    _wait_for_kafka_commits(kafka, 120)  # the loader commits to Kafka asynchronously
    path = duckdb_url.removeprefix("duckdb:///")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n", holder.stderr
        status = gather(kafka, WarehouseSettings(url=duckdb_url))
    finally:
        holder.kill()
        holder.wait()
    assert status.held_by == f"another process (pid {holder.pid})"
    assert status.broker_problem is None
    assert {lag.topic for lag in status.lags} == set(department_topics(kafka))
    assert sum(lag.end or 0 for lag in status.lags) == 145
    assert sum(lag.stored for lag in status.lags) == 120  # what the loader committed to Kafka
    assert sum(lag.lag or 0 for lag in status.lags) == 25
    assert status.counts == {} and status.freshness == [] and status.last_load is None


# Holds a DuckDB file open for writing, as a loader does, until it is killed.
HOLD = (
    "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(99)"
)


def _wait_for_kafka_commits(kafka: KafkaSettings, total: int) -> None:
    admin = admin_client(kafka)
    try:
        deadline = time.monotonic() + 30
        while True:
            group = admin.list_group_offsets({kafka.consumer_group: None}).get(kafka.consumer_group, {})
            if sum(max(meta.offset, 0) for meta in group.values()) == total:
                return
            assert time.monotonic() < deadline, f"the loader's Kafka commits did not reach {total}"
            time.sleep(0.1)
    finally:
        admin.close()
