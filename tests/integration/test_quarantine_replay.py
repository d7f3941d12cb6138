"""Quarantined records are listed by reason and replayed exactly once, after a fix or with corrections."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from journeys.status import gather
from journeys_core.settings import KafkaSettings, LoaderSettings, PrivacySettings, WarehouseSettings
from journeys_core.warehouse import connect_duckdb, connect_postgres, parse_url
from streams.quarantine import QuarantineError, masked_preview, reason_kind, summarise
from streams.replay import read_corrections, replay
from streams.sinks import open_sink
from tests.events import encode, event
from tests.helpers import load, publish, query
from tests.marts import TEST_PII_KEY

PRIVACY = PrivacySettings(pii_key=SecretStr(TEST_PII_KEY))
AHEAD = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
BROKEN_ATTRIBUTES = {
    "amount": "lots",
    "currency": "EUR",
    "items": 2,
    "channel": "web",
    "promised_delivery_date": "2026-09-05",
}


def _offsets(url: str) -> dict[str, tuple[str, int, int]]:
    """Quarantined records by the event id they carry (or their reason when they carry none)."""
    rows = query(url, "select topic, kafka_partition, kafka_offset, event_id, reason from raw.quarantine")
    return {
        str(event_id or reason): (topic, partition, offset)
        for topic, partition, offset, event_id, reason in rows
    }


def test_replay_loads_what_now_passes_exactly_once(
    kafka: KafkaSettings, loader_settings: LoaderSettings, warehouse_url: str, tmp_path: Path
) -> None:
    good = event(order_id="O-good")
    future = event(order_id="O-future", occurred_at=AHEAD)
    clash = event(order_id="O-clash", occurred_at=AHEAD, event_id=str(good["event_id"]))
    broken = event(order_id="O-broken", attributes=BROKEN_ATTRIBUTES)
    records = [
        ("sales", b"k", encode(good)),
        ("sales", b"k", encode(future)),
        ("sales", b"k", encode(future)),  # redelivered: quarantined twice, loaded once
        ("sales", b"k", encode(clash)),  # its event id is loaded already
        ("sales", b"k", b"not json at all"),
        ("sales", b"k", encode(broken)),
    ]
    publish(kafka, records)
    stats = load(kafka, loader_settings, warehouse_url)
    assert (stats.loaded, stats.quarantined) == (1, 5)

    summary = summarise(warehouse_url)
    counts = {(group.kind, group.topic): (group.count, group.copies) for group in summary.groups}
    topic = kafka.topic("sales")
    # The redelivered event is one record to fix, in two copies; the clash is another record.
    assert counts[("occurred_at N is in the future (later than N)", topic)] == (2, 3)
    assert (summary.waiting, summary.distinct, summary.replayed) == (5, 4, 0)
    assert summarise(warehouse_url, reason="NOT VALID JSON").waiting == 1
    mistyped = summarise(warehouse_url, topic="elsewhere")
    assert (mistyped.waiting, mistyped.waiting_elsewhere) == (0, 4)

    # The contract is "fixed": events up to ten days ahead are accepted now.
    fixed = LoaderSettings(max_future_seconds=10 * 86400)
    dry = replay(warehouse_url, loader=fixed, privacy=PRIVACY, dry_run=True)
    assert (dry.examined, dry.loaded, dry.dry_run) == (5, 1, True)
    assert query(warehouse_url, "select count(*) from raw.touchpoints") == [(1,)]

    first = replay(warehouse_url, loader=fixed, privacy=PRIVACY)
    assert (first.examined, first.loaded, first.already_loaded, first.still_quarantined) == (5, 1, 2, 2)
    second = replay(warehouse_url, loader=fixed, privacy=PRIVACY)
    assert (second.examined, second.loaded, second.already_loaded, second.still_quarantined) == (2, 0, 0, 2)
    assert second.reasons_changed == 0
    rows = query(warehouse_url, "select count(*), count(distinct event_id) from raw.touchpoints")
    assert rows == [(2, 2)]
    stored = query(
        warehouse_url,
        "select cast(event_id as text), order_id from raw.touchpoints order by order_id",
    )
    assert stored == [(str(future["event_id"]), "O-future"), (str(good["event_id"]), "O-good")]

    # Corrections: the broken event fixed, the non-JSON record replaced by something still wrong.
    offsets = _offsets(warehouse_url)
    broken_at = offsets[str(broken["event_id"])]
    junk_at = next(where for name, where in offsets.items() if name.startswith("not valid JSON"))
    lines = [
        {
            "topic": broken_at[0],
            "partition": broken_at[1],
            "offset": broken_at[2],
            "event": {**broken, "attributes": {**BROKEN_ATTRIBUTES, "amount": 12.5}},
        },
        {"topic": junk_at[0], "partition": junk_at[1], "offset": junk_at[2], "payload": "{}"},
        {"topic": topic, "partition": 0, "offset": 999_999, "payload": "{}"},
    ]
    corrections_file = tmp_path / "corrections.jsonl"
    corrections_file.write_text("# fixed by hand\n" + "\n".join(json.dumps(line) for line in lines) + "\n")
    corrected = replay(
        warehouse_url, loader=fixed, privacy=PRIVACY, corrections=read_corrections(corrections_file)
    )
    assert (corrected.examined, corrected.loaded, corrected.still_quarantined) == (2, 1, 1)
    assert corrected.unmatched == ((topic, 0, 999_999),)
    again = replay(
        warehouse_url, loader=fixed, privacy=PRIVACY, corrections=read_corrections(corrections_file)
    )
    assert (again.examined, again.loaded) == (1, 0)
    assert query(warehouse_url, "select count(*) from raw.touchpoints") == [(3,)]

    waiting = query(warehouse_url, "select reason from raw.quarantine where replayed_at is null")
    assert len(waiting) == 1 and waiting[0][0].startswith(
        "after correction: does not match the event envelope"
    )
    marked = query(
        warehouse_url,
        "select replayed_event_id, count(*) from raw.quarantine where replayed_at is not null "
        "group by replayed_event_id order by 2, 1",
    )
    assert sorted(marked) == sorted(
        [(str(broken["event_id"]), 1), (str(good["event_id"]), 1), (str(future["event_id"]), 2)]
    )
    summary = summarise(warehouse_url, previews=True)
    assert (summary.waiting, summary.replayed) == (1, 4)
    assert summary.groups[0].previews == ["not json at all"]


def test_a_record_published_to_two_topics_is_one_record_in_two_copies_and_replays_once(
    kafka: KafkaSettings, loader_settings: LoaderSettings, warehouse_url: str
) -> None:
    """As after a rerun of `journeys run`, which publishes its data set again to topics of its own."""
    future = encode(event(order_id="O-twice", occurred_at=AHEAD))
    junk = b"not json at all"
    publish(kafka, [("sales", b"k", future), ("shipping", b"k", future), ("sales", b"k", junk)])
    publish(kafka, [("support", b"k", junk)])
    assert load(kafka, loader_settings, warehouse_url).quarantined == 4

    summary = summarise(warehouse_url, samples=5)
    assert (summary.waiting, summary.distinct) == (4, 2)
    assert [(group.count, group.copies, len(group.samples)) for group in summary.groups] == [(1, 2, 1)] * 2
    shown = gather(kafka, WarehouseSettings(url=warehouse_url))
    assert (shown.counts["raw.quarantine"], shown.quarantine_distinct) == (4, 2)
    # A filter counts the copies it matches; what it leaves out counts each record once.
    sales = summarise(warehouse_url, topic=kafka.topic("sales"))
    assert (sales.waiting, sales.distinct, sales.waiting_elsewhere) == (2, 2, 0)
    shipping = summarise(warehouse_url, topic=kafka.topic("shipping"))
    assert (shipping.waiting, shipping.distinct, shipping.waiting_elsewhere) == (1, 1, 1)

    fixed = LoaderSettings(max_future_seconds=10 * 86400)
    replayed = replay(warehouse_url, loader=fixed, privacy=PRIVACY)
    assert (replayed.examined, replayed.loaded, replayed.already_loaded) == (4, 1, 1)
    assert query(warehouse_url, "select order_id from raw.touchpoints") == [("O-twice",)]
    after = summarise(warehouse_url)
    assert (after.waiting, after.distinct, after.replayed) == (2, 1, 2)
    shown = gather(kafka, WarehouseSettings(url=warehouse_url))
    assert (shown.counts["raw.quarantine"], shown.quarantine_distinct) == (2, 1)


def test_the_replay_columns_are_added_to_an_older_warehouse(warehouse_url: str) -> None:
    target = parse_url(warehouse_url)
    old = (
        "create schema raw; create table raw.quarantine (topic text not null, kafka_partition integer "
        "not null, kafka_offset bigint not null, kafka_key {b}, payload {b}, reason text not null, "
        "event_id text, event_type text, quarantined_at timestamptz not null, "
        "primary key (topic, kafka_partition, kafka_offset))"
    )
    if target.kind == "duckdb":
        with connect_duckdb(target) as duck:
            duck.execute(old.format(b="blob"))
    else:
        with connect_postgres(target, autocommit=True) as pg:
            pg.execute(old.format(b="bytea").encode())
    sink = open_sink(warehouse_url)
    sink.setup()
    sink.setup()  # idempotent
    sink.close()
    columns = query(
        warehouse_url,
        "select column_name from information_schema.columns where table_schema = 'raw' "
        "and table_name = 'quarantine' and column_name like 'replayed%' order by 1",
    )
    assert columns == [("replayed_at",), ("replayed_event_id",)]


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("not json", "line 1 is not JSON"),
        ('{"topic": "t", "partition": 0}', '"offset" (integers)'),
        ('{"topic": "t", "partition": 0, "offset": 1}', 'exactly one of "event" or "payload"'),
        ('{"topic": "t", "partition": -1, "offset": 1, "payload": "x"}', "(integers)"),
    ],
)
def test_a_bad_corrections_file_names_the_line(tmp_path: Path, line: str, words: str) -> None:
    path = tmp_path / "corrections.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(QuarantineError, match="corrections format") as error:
        read_corrections(path)
    assert words in str(error.value)


def test_reason_kinds_and_masked_previews() -> None:
    assert reason_kind("payload is 2,097,212 bytes; the limit is 1,048,576 bytes") == (
        "payload is N bytes; the limit is N bytes"
    )
    assert reason_kind("unknown event_type 'sales.x'; expected one") == "unknown event_type '…'; expected one"
    preview = masked_preview(
        b'{"customer": {"email": "ann@example.com", "phone": "+44 20 7946 0123"}, "note": "bob@example.org"}'
    )
    assert "example" not in preview and "7946" not in preview


def test_a_warehouse_without_quarantine_says_to_ingest_first(warehouse_url: str) -> None:
    if warehouse_url.startswith("duckdb"):
        connect_duckdb(parse_url(warehouse_url)).close()  # the file exists, the table does not
    with pytest.raises(QuarantineError, match="journeys ingest"):
        summarise(warehouse_url)
    with pytest.raises(QuarantineError, match="journeys ingest"):
        replay(warehouse_url, privacy=PRIVACY)
