"""`journeys status` against a live broker: lag is what the loader has not stored yet, on both warehouses."""

from __future__ import annotations

from journeys.status import gather
from journeys_core.settings import KafkaSettings, LoaderSettings, WarehouseSettings
from streams.topics import department_topics, ensure_topics
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
