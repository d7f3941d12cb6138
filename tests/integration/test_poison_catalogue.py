"""Bad input is quarantined with a reason a person can act on, and good events around it still load."""

from __future__ import annotations

import pytest

from journeys_core.settings import KafkaSettings, LoaderSettings
from tests.events import encode, event
from tests.helpers import load, publish, query
from tests.hostile import CODECS, EDGES, KEYS, LONG_KEY, LONG_VALUE, POISON, SQL


def test_poison_is_quarantined_and_good_events_around_it_load(
    kafka: KafkaSettings, loader_settings: LoaderSettings, warehouse_url: str
) -> None:
    good_before = event(order_id="O-before")
    sql_but_valid = event(order_id=SQL, source=SQL, customer={"customer_id": SQL, "email": SQL})
    good_after = event(order_id="O-after")
    records = [("sales", b"k", encode(good_before))]
    records += [("sales", KEYS.get(name, b"k"), payload) for name, (payload, _) in POISON.items()]
    records += [("sales", b"k", payload) for payload in EDGES.values()]
    records += [("sales", b"k", encode(sql_but_valid)), ("sales", b"k", encode(good_after))]
    publish(kafka, records)

    stats = load(kafka, loader_settings, warehouse_url)

    assert (stats.loaded, stats.quarantined) == (3 + len(EDGES), len(POISON))
    stored = {
        row[0]: row[1:]
        for row in query(
            warehouse_url, "select order_id, source, customer_id, email, phone from raw.touchpoints"
        )
    }
    assert stored[SQL] == (SQL, SQL, SQL, None), "strings that look like SQL are stored verbatim"
    assert {"O-before", "O-after", "O-wide", "O-text", "O-max", "O-1970", "O-offset", "O-email"} <= set(
        stored
    )
    assert stored["O-wide"][3] == "020 7946 0123", "digits of any script are stored as ASCII"
    assert stored["O-text"][0] == "a\\u0000b", "an escaped backslash before u0000 is text, not NUL"
    quarantined = {
        bytes(payload): (reason, bytes(key))
        for payload, reason, key in query(
            warehouse_url, "select payload, reason, kafka_key from raw.quarantine"
        )
    }
    assert len(quarantined) == len(POISON)
    for name, (payload, words) in POISON.items():
        assert payload in quarantined, f"{name}: raw bytes kept as they came"
        reason, key = quarantined[payload]
        assert words in reason, f"{name}: reason {reason!r} should mention {words!r}"
        assert key == KEYS.get(name, b"k"), f"{name}: the whole key is kept"
    assert query(warehouse_url, "select count(*) from raw.touchpoints") == [(3 + len(EDGES),)]


@pytest.mark.parametrize("department", ["sales", "shipping", "support"])
def test_rejected_records_also_go_to_the_dead_letter_topic(
    kafka: KafkaSettings, loader_settings: LoaderSettings, duckdb_url: str, department: str
) -> None:
    from kafka import KafkaConsumer

    from streams.kafka_config import client_options
    from streams.topics import dlq_topic

    publish(kafka, [(department, b"key-1", b"broken")])
    assert load(kafka, loader_settings, duckdb_url).quarantined == 1
    consumer = KafkaConsumer(
        dlq_topic(kafka), **client_options(kafka), auto_offset_reset="earliest", consumer_timeout_ms=5000
    )
    [record] = [r for r in consumer]
    consumer.close()
    headers = dict(record.headers)
    assert record.value == b"broken" and record.key == b"key-1"
    assert headers["journeys.source"].decode().startswith(f"{kafka.topic(department)}/")
    assert b"not valid JSON" in headers["journeys.reason"]


def test_key_and_value_over_the_limit_are_cut_alike_in_the_dead_letter_copy(
    kafka: KafkaSettings, loader_settings: LoaderSettings, duckdb_url: str
) -> None:
    from kafka import KafkaConsumer

    from streams.kafka_config import client_options
    from streams.topics import dlq_topic

    publish(kafka, [("sales", LONG_KEY, LONG_VALUE), ("sales", b"k", encode(event()))])
    stats = load(kafka, loader_settings, duckdb_url)
    assert (stats.loaded, stats.quarantined) == (1, 1)
    consumer = KafkaConsumer(
        dlq_topic(kafka),
        **client_options(kafka),
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    [record] = [r for r in consumer]
    consumer.close()
    limit = loader_settings.max_event_bytes
    assert (record.key, record.value) == (LONG_KEY[:limit], LONG_VALUE[:limit])
    truncated = f"key={len(LONG_KEY)},value={len(LONG_VALUE)}"
    assert dict(record.headers)["journeys.truncated"] == truncated.encode()
    assert query(duckdb_url, "select octet_length(kafka_key) from raw.quarantine") == [(len(LONG_KEY),)]


def test_records_compressed_with_every_codec_load(
    kafka: KafkaSettings, loader_settings: LoaderSettings, duckdb_url: str
) -> None:
    """A producer may compress with any codec Kafka has: the loader reads them all (before: snappy,
    lz4 and zstd stopped it with UnsupportedCodecError, exit 1, on every run)."""
    from kafka import KafkaProducer

    from streams.kafka_config import client_options

    for codec in CODECS:
        producer = KafkaProducer(**client_options(kafka), compression_type=codec, acks="all")
        for number in range(3):
            producer.send(kafka.topic("sales"), key=b"k", value=encode(event(order_id=f"{codec}-{number}")))
        producer.flush(timeout=30)
        producer.close()

    stats = load(kafka, loader_settings, duckdb_url)

    assert (stats.loaded, stats.quarantined) == (3 * len(CODECS), 0)
    stored = {row[0] for row in query(duckdb_url, "select order_id from raw.touchpoints")}
    assert stored == {f"{codec}-{number}" for codec in CODECS for number in range(3)}
