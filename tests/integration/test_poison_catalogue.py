"""Bad input is quarantined with a reason a person can act on, and good events around it still load."""

from __future__ import annotations

import datetime as dt

import pytest

from journeys_core.settings import KafkaSettings, LoaderSettings
from tests.events import encode, event
from tests.helpers import load, publish, query

SQL = "'); drop table raw.touchpoints; --"
# 1.5 MiB each. Before, the DLQ copy cut the value to 1 MiB but kept the key: 2.5 MiB, more than the
# DLQ producer sends, so the loader stopped (exit 2) on this record on every run.
LONG_KEY = b"k" * (3 * 512 * 1024)
LONG_VALUE = b"v" * (3 * 512 * 1024)


def _order(**attributes: object) -> bytes:
    """A sales.order_placed with some attributes changed."""
    return encode(event(attributes={**event()["attributes"], **attributes}))  # type: ignore[dict-item]


def _stamped(occurred_at: str) -> bytes:
    return encode({**event(), "occurred_at": occurred_at})


def _with_note(note: bytes) -> bytes:
    """A valid order whose attributes also hold `note`, given as JSON text (msgspec would not
    encode a thousand levels)."""
    return encode(event()).replace(b'"channel":"web"', b'"channel":"web","note":' + note)


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
    # Issue 17: records that stopped the loader for good, or that dbt or a warehouse could not hold.
    "nested 1,000 deep": (b'{"x":' * 1000 + b"1" + b"}" * 1000, "nested more than 32 levels deep"),
    "nested 1,000 deep in attributes": (
        _with_note(b'{"a":' * 999 + b"{}" + b"}" * 999),
        "nested more than 32 levels deep",
    ),
    "duplicate key": (
        encode(event()).replace(b'"amount":42.5', b'"amount":5,"amount":7'),
        "duplicate key 'amount'",
    ),
    "items beyond a 32-bit integer": (_order(items=2**31), "attributes.items"),
    "amount beyond numeric(12,2)": (_order(amount=1e10), "attributes.amount"),
    "items dbt casts, on a check-in": (
        encode(event("sales.check_in", attributes={"channel": "web", "items": "lots"})),
        "attributes.items",
    ),
    "a number PostgreSQL cannot hold": (
        encode(event()).replace(b'"amount":42.5', b'"amount":1e-20000'),
        "beyond what the warehouses store",
    ),
    "before year 1 in UTC": (_stamped("0001-01-01T00:00:00+14:00"), "before 1970-01-01"),
    "offset without a colon": (_stamped("2026-09-01T09:00:00+0100"), "RFC3339 needs a colon"),
    "promised in year 9999": (_order(promised_delivery_date="9999-12-31"), "promised_delivery_date"),
    "phone-only customer without a digit": (
        encode(event(customer={"phone": "call me maybe"})),
        "customer.phone has no digit",
    ),
    "key and value over 1 MiB": (LONG_VALUE, "the limit is 1,048,576 bytes"),
}
KEYS = {"key and value over 1 MiB": LONG_KEY}  # the others have the key b"k"

# Valid, at the edges of the same rules: they load, in both warehouses.
EDGES: dict[str, bytes] = {
    "phone in full-width digits": encode(
        event(order_id="O-wide", customer={"phone": "\uff10\uff12\uff10 7946 \uff10\uff11\uff12\uff13"})
    ),
    "backslash-u0000 as text": encode(event(order_id="O-text", source="a\\u0000b")),
    "items and amount at their column limits": encode(
        event(
            order_id="O-max",
            attributes={**event()["attributes"], "items": 2**31 - 1, "amount": 9_999_999_999.99},
        )  # type: ignore[dict-item]
    ),
    "the first second of 1970": encode(
        event(
            "sales.check_in",
            order_id="O-1970",
            attributes={"channel": "web"},
            occurred_at=dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
        )
    ),
    "an RFC 3339 offset": encode({**event(order_id="O-offset"), "occurred_at": "2026-09-01T09:00:00+01:00"}),
    "a phone without a digit beside an email": encode(
        event(order_id="O-email", customer={"phone": "call me maybe", "email": "c@example.com"})
    ),
}


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

    codecs = ("gzip", "snappy", "lz4", "zstd")
    for codec in codecs:
        producer = KafkaProducer(**client_options(kafka), compression_type=codec, acks="all")
        for number in range(3):
            producer.send(kafka.topic("sales"), key=b"k", value=encode(event(order_id=f"{codec}-{number}")))
        producer.flush(timeout=30)
        producer.close()

    stats = load(kafka, loader_settings, duckdb_url)

    assert (stats.loaded, stats.quarantined) == (3 * len(codecs), 0)
    stored = {row[0] for row in query(duckdb_url, "select order_id from raw.touchpoints")}
    assert stored == {f"{codec}-{number}" for codec in codecs for number in range(3)}
