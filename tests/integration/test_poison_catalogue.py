"""Bad input is quarantined with a reason a person can act on, and good events around it still load."""

from __future__ import annotations

import datetime as dt

import pytest

from journeys_core.settings import KafkaSettings, LoaderSettings
from tests.events import encode, event
from tests.helpers import load, publish, query

SQL = "'); drop table raw.touchpoints; --"

POISON: dict[str, tuple[bytes, str]] = {
    # name: (payload, words the reason must contain)
    "not json": (b"this is not json", "not valid JSON"),
    "not utf-8": (b'{"event_id": "\xff\xfe"}', "not UTF-8"),
    "wrong types": (
        encode(
            event(
                attributes={
                    "amount": "lots",
                    "currency": "EUR",
                    "items": 2,
                    "channel": "web",
                    "promised_delivery_date": "2026-09-05",
                }
            )
        ),
        "attributes.amount",
    ),
    "unknown event type": (encode(event("sales.teleported")), "unknown event_type"),
    "no customer identifier": (encode(event(customer={})), "no identifier"),
    "oversized": (encode(event(source="x" * (2 * 1024 * 1024))), "limit is"),
    "years ahead": (
        encode(event(occurred_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=3 * 365))),
        "in the future",
    ),
    "sql in a broken event": (
        encode(event(event_type=SQL, customer={"customer_id": SQL})),
        "unknown event_type",
    ),
    "nul character": (encode(event(source="a\u0000b")), "NUL"),
    "null value": (b"null", "envelope"),
    "missing field": (encode({k: v for k, v in event().items() if k != "occurred_at"}), "occurred_at"),
}


def test_poison_is_quarantined_and_good_events_around_it_load(
    kafka: KafkaSettings, loader_settings: LoaderSettings, warehouse_url: str
) -> None:
    good_before = event(order_id="O-before")
    sql_but_valid = event(order_id=SQL, source=SQL, customer={"customer_id": SQL, "email": SQL})
    good_after = event(order_id="O-after")
    records = [("sales", b"k", encode(good_before))]
    records += [("sales", b"k", payload) for payload, _ in POISON.values()]
    records += [("sales", b"k", encode(sql_but_valid)), ("sales", b"k", encode(good_after))]
    publish(kafka, records)

    stats = load(kafka, loader_settings, warehouse_url)

    assert (stats.loaded, stats.quarantined) == (3, len(POISON))
    stored = query(
        warehouse_url,
        "select order_id, source, customer_id, email from raw.touchpoints order by kafka_offset",
    )
    assert stored[1] == (SQL, SQL, SQL, SQL), "strings that look like SQL are stored verbatim"
    quarantined = query(warehouse_url, "select payload, reason from raw.quarantine order by kafka_offset")
    for (name, (payload, words)), (stored_payload, reason) in zip(POISON.items(), quarantined, strict=True):
        assert bytes(stored_payload) == payload, f"{name}: raw bytes kept as they came"
        assert words in reason, f"{name}: reason {reason!r} should mention {words!r}"
    assert query(warehouse_url, "select count(*) from raw.touchpoints") == [(3,)]


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
