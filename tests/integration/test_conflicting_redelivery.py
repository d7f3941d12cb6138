"""Two records with one event_id: the same content is a redelivery, skipped in silence; different
content is a conflict, never silent. The stored event stays, the other is quarantined (row and
DLQ copy) with a reason naming the stored one. Through the embedded broker, on both warehouses.

Before, the second record was counted as a duplicate and dropped, with no trace: an order_placed
could be replaced by an unrelated check_in that reused its id, the winner varying between runs.
"""

from __future__ import annotations

import uuid

from kafka import KafkaConsumer, KafkaProducer

from journeys_core.settings import KafkaSettings, LoaderSettings
from streams.kafka_config import client_options
from streams.topics import dlq_topic
from tests.events import encode, event
from tests.helpers import load, loader_env, query, run_journeys

CONFLICT = "same event_id, different content"


def _send(kafka: KafkaSettings, records: list[tuple[int, bytes]]) -> None:
    """Publish (partition, value) records to the sales topic, in this order."""
    producer = KafkaProducer(**client_options(kafka), acks="all")
    for partition, value in records:
        producer.send(kafka.topic("sales"), key=b"k", value=value, partition=partition)
        producer.flush(timeout=30)  # one at a time: the order read is the order sent
    producer.close()


def _order(event_id: str, order_id: str = "O-1", amount: float = 42.5) -> bytes:
    return encode(event(event_id=event_id, order_id=order_id, attributes={**_ATTRIBUTES, "amount": amount}))


def _check_in(event_id: str) -> bytes:
    return encode(event("sales.check_in", event_id=event_id, order_id=None, attributes={"channel": "app"}))


_ATTRIBUTES: dict[str, object] = dict(event()["attributes"])  # type: ignore[call-overload]


def _stored(url: str) -> dict[str, tuple[str, str | None]]:
    rows = query(url, "select event_id, event_type, order_id from raw.touchpoints")
    return {str(event_id): (event_type, order_id) for event_id, event_type, order_id in rows}


def _amount(url: str, event_id: str) -> float:
    duckdb = url.startswith("duckdb")
    amount = "json_extract_string(attributes, '$.amount')" if duckdb else "attributes->>'amount'"
    where = f"event_id = '{event_id}'"
    [(value,)] = query(url, f"select cast({amount} as double precision) from raw.touchpoints where {where}")
    return float(value)


def _quarantined(url: str) -> dict[bytes, str]:
    return {
        bytes(payload): reason for payload, reason in query(url, "select payload, reason from raw.quarantine")
    }


def _dead_letters(kafka: KafkaSettings) -> dict[bytes, str]:
    consumer = KafkaConsumer(
        dlq_topic(kafka), **client_options(kafka), auto_offset_reset="earliest", consumer_timeout_ms=5000
    )
    letters = {record.value: dict(record.headers)["journeys.reason"].decode() for record in consumer}
    consumer.close()
    return letters


def test_a_redelivery_with_the_same_content_is_skipped_in_silence(
    kafka: KafkaSettings, loader_settings: LoaderSettings, warehouse_url: str
) -> None:
    event_id = str(uuid.uuid4())
    original = _order(event_id)
    # The same event written another way: keys in another order, 42.5 as 4.250e1.
    respelled = original.replace(b'"amount":42.5,', b"").replace(
        b'"promised_delivery_date":"2026-09-05"', b'"promised_delivery_date":"2026-09-05","amount":4.250e1'
    )
    assert respelled != original
    _send(kafka, [(0, original), (0, original), (1, respelled)])
    first = load(kafka, loader_settings, warehouse_url)
    _send(kafka, [(2, original), (0, respelled)])
    second = load(kafka, loader_settings, warehouse_url)

    assert (first.loaded, first.duplicates, second.loaded, second.duplicates) == (1, 2, 0, 2)
    assert first.conflicts == second.conflicts == first.quarantined == second.quarantined == 0
    assert _stored(warehouse_url) == {event_id: ("sales.order_placed", "O-1")}
    assert query(warehouse_url, "select count(*) from raw.quarantine") == [(0,)]


def test_a_conflict_in_one_batch_keeps_the_first_read_and_quarantines_the_other(
    kafka: KafkaSettings, loader_settings: LoaderSettings, warehouse_url: str
) -> None:
    event_id = str(uuid.uuid4())
    order, check_in = _order(event_id), _check_in(event_id)
    _send(kafka, [(0, order), (0, check_in), (0, order)])

    stats = load(kafka, loader_settings, warehouse_url)

    assert (stats.loaded, stats.quarantined, stats.conflicts, stats.duplicates) == (1, 1, 1, 1)
    assert _stored(warehouse_url) == {event_id: ("sales.order_placed", "O-1")}
    reason = _quarantined(warehouse_url)[check_in]
    assert reason.startswith(
        f"conflicts with stored event '{event_id}' (read from '{kafka.topic('sales')}[0]@0')"
    )
    assert f"{CONFLICT} ('event_type, order_id, attributes' differ)" in reason
    assert _dead_letters(kafka) == {check_in: reason}, "a conflict is dead-lettered like any rejection"


def test_a_conflict_across_batches_and_partitions_keeps_the_stored_event(
    kafka: KafkaSettings, loader_settings: LoaderSettings, warehouse_url: str
) -> None:
    kept, raced = str(uuid.uuid4()), str(uuid.uuid4())
    order = _order(kept)
    _send(kafka, [(0, order)])
    assert load(kafka, loader_settings, warehouse_url).loaded == 1
    # Later, from other partitions: a check_in reusing the order's id, then the order itself again
    # (a redelivery of what is stored, though the batch's first record of the id conflicts with
    # it); and a new id sent twice with different amounts, one per partition.
    check_in, late_order = _check_in(kept), _order(kept, amount=99.0)
    first, second = _order(raced, "O-2", 1.0), _order(raced, "O-2", 2.0)
    _send(kafka, [(1, check_in), (1, order), (2, late_order), (1, first), (2, second)])

    stats = load(kafka, loader_settings, warehouse_url)

    assert (stats.loaded, stats.quarantined, stats.conflicts, stats.duplicates) == (1, 3, 3, 1)
    stored = _stored(warehouse_url)
    assert stored[kept] == ("sales.order_placed", "O-1")
    amount = _amount(warehouse_url, raced)
    quarantined = _quarantined(warehouse_url)
    loser = second if amount == 1.0 else first  # across partitions, the one read first won
    assert set(quarantined) == {check_in, late_order, loser}
    at = f"(read from '{kafka.topic('sales')}[0]@0')"
    assert quarantined[check_in].startswith(f"conflicts with stored event '{kept}' {at}")
    assert f"{CONFLICT} ('attributes' differ)" in quarantined[late_order]
    assert quarantined[loser].startswith(f"conflicts with stored event '{raced}'")
    assert _dead_letters(kafka) == quarantined

    listed = run_journeys("quarantine", "list", env=loader_env(kafka, warehouse_url))
    assert listed.returncode == 0, listed.stderr
    assert "3 records in quarantine" in listed.stdout
    assert "conflicts with stored event" in listed.stdout and CONFLICT in listed.stdout
