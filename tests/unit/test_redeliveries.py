"""A batch sorts event_ids met again into silent redeliveries and quarantined conflicts, alike for
both warehouses; rows a warehouse refuses are found by bisection."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from streams.contract import Touchpoint, decode
from streams.sinks.base import CONTENT_FIELDS, Batch, StoredEvent, content, find_refused
from tests.events import encode, event

ID = "0b6f1c2a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
_NOW = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)


def _touchpoint(body: dict[str, object] | bytes) -> Touchpoint:
    decoded = decode(body if isinstance(body, bytes) else encode(body), now=_NOW)
    assert isinstance(decoded, Touchpoint), decoded
    return decoded


def _batch(*payloads: bytes) -> Batch:
    batch = Batch()
    for offset, payload in enumerate(payloads):
        batch.add_touchpoint(_touchpoint(payload), "t.sales", 0, offset, b"k", payload)
    return batch


def _as_stored(payload: bytes, topic: str = "t.sales", offset: int = 90, **rewrite: Any) -> StoredEvent:
    """`payload` as a warehouse gives it back: attributes re-serialised (PostgreSQL's jsonb sorts keys
    and writes 1e1 as 10), occurred_at in another zone."""
    event_ = _touchpoint(payload)
    attributes = json.dumps(json.loads(event_.attributes), sort_keys=True, indent=1)
    values = [getattr(event_, name) for name in CONTENT_FIELDS[:-1]] + [attributes]
    values[2] = values[2].astimezone(dt.timezone(dt.timedelta(hours=-5)))
    row = dict(zip(CONTENT_FIELDS, values, strict=True)) | rewrite
    return StoredEvent(ID, content(list(row.values())), topic, 0, offset)


ORDER = encode(event(event_id=ID))
CHECK_IN = encode(event("sales.check_in", event_id=ID, attributes={"channel": "web"}))


def test_content_is_the_same_however_the_json_is_written() -> None:
    reordered = (
        b'{"promised_delivery_date":"2026-09-05","items":2,"channel":"web","currency":"EUR","amount":4.250e1}'
    )
    respelled = encode(event(event_id=ID)).replace(
        b'{"amount":42.5,"currency":"EUR","items":2,"channel":"web","promised_delivery_date":"2026-09-05"}',
        reordered,
    )
    assert respelled != ORDER
    resolution = _batch(ORDER).resolve([_as_stored(respelled)])
    assert (resolution.duplicates, resolution.conflict_count) == (1, 0)


def test_a_stored_version_with_other_content_wins_and_the_batch_row_is_quarantined() -> None:
    batch = _batch(CHECK_IN)
    resolution = batch.resolve([_as_stored(ORDER, topic="t.sales", offset=17)])
    assert (resolution.duplicates, resolution.conflict_count) == (0, 1)
    conflicts = resolution.conflicts
    assert conflicts["payload"] == [CHECK_IN] and conflicts["kafka_key"] == [b"k"]
    assert conflicts["event_id"] == [ID] and conflicts["event_type"] == ["sales.check_in"]
    [reason] = conflicts["reason"]
    assert reason.startswith(f"conflicts with stored event '{ID}' (read from 't.sales[0]@17'): ")
    assert "same event_id, different content ('event_type, attributes' differ)" in reason
    assert "`journeys events tombstone|correct`" in reason


def test_a_re_read_of_the_stored_record_is_a_duplicate_even_if_corrected_since() -> None:
    corrected = _as_stored(ORDER, offset=0, source="corrected by hand")
    assert _batch(ORDER).resolve([corrected]).duplicates == 1


def test_within_a_batch_the_first_record_read_wins() -> None:
    batch = _batch(ORDER, ORDER, CHECK_IN)
    assert batch.touchpoint_count == 1 and batch.touchpoints["event_type"] == ["sales.order_placed"]
    resolution = batch.resolve([])
    assert (resolution.duplicates, resolution.conflict_count) == (1, 1)
    assert resolution.conflicts["kafka_offset"] == [2]
    assert "(read from 't.sales[0]@0')" in resolution.conflicts["reason"][0]


def test_a_later_record_is_compared_with_the_stored_version_when_there_is_one() -> None:
    # Stored: the order. The batch's first record conflicts with it; its second repeats it.
    batch = _batch(CHECK_IN, ORDER)
    resolution = batch.resolve([_as_stored(ORDER)])
    assert (resolution.duplicates, resolution.conflict_count) == (1, 1)
    assert resolution.conflicts["payload"] == [CHECK_IN]


def test_refused_rows_are_found_by_bisection_and_moved_to_quarantine() -> None:
    payloads = [encode(event(order_id=f"O-{n}")) for n in range(37)]
    batch = _batch(*payloads)
    bad = {5, 31}
    probes: list[int] = []

    def probe(part: Batch) -> str | None:
        probes.append(part.touchpoint_count)
        orders = {f"O-{n}" for n in bad}
        return "refused" if orders & set(part.touchpoints["order_id"]) else None

    found = find_refused(batch, probe)
    assert found == dict.fromkeys(bad, "refused")
    assert len(probes) <= 2 * len(bad) * 6, "about 2 log2(n) probes per refused row"
    added = batch.refuse(found)
    assert added["payload"] == [payloads[5], payloads[31]]
    assert added["reason"][0].startswith("the warehouse refused this event (refused): ")
    assert batch.touchpoint_count == 35 and batch.quarantine_count == 2
    assert batch.keys == [b"k"] * 35 and batch.payloads == [p for n, p in enumerate(payloads) if n not in bad]
    assert all(batch.event_ids[event_id] == row for row, event_id in enumerate(batch.touchpoints["event_id"]))


def test_no_row_refused_on_its_own_finds_nothing() -> None:
    batch = _batch(*(encode(event(order_id=f"O-{n}")) for n in range(4)))
    assert find_refused(batch, lambda part: "refused" if part.touchpoint_count == 4 else None) == {}
