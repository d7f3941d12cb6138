"""A batch the warehouse refuses does not stop the loader: the rows at fault are quarantined with the
warehouse's message, the rest commit with the offsets, exactly once. Both warehouses.

The refusal is forced as a rule the contract knows nothing of: a CHECK constraint on this test's
own raw.touchpoints that refuses check-ins. Before, the insert's error stopped the loader on every
run, since the batch's offsets never advanced.
"""

from __future__ import annotations

import uuid

import duckdb
import psycopg
from kafka import KafkaConsumer

from journeys_core.settings import KafkaSettings, LoaderSettings
from journeys_core.warehouse import parse_url, raw_ddl
from streams.kafka_config import client_options
from streams.topics import dlq_topic
from tests.events import encode, event
from tests.helpers import load, publish, query

_NO_CHECK_INS = "check (event_type <> 'sales.check_in')"


def _refuse_check_ins(url: str) -> None:
    """raw.touchpoints as the loader makes it, plus a rule that refuses every sales.check_in."""
    target = parse_url(url)
    if target.kind == "duckdb":  # DuckDB cannot add a CHECK to a table: create it with one
        ddl = raw_ddl("duckdb").replace(
            "    loaded_at       timestamptz not null\n);",
            f"    loaded_at       timestamptz not null,\n    {_NO_CHECK_INS}\n);",
            1,
        )
        assert _NO_CHECK_INS in ddl
        with duckdb.connect(str(target.path)) as con:
            con.execute(ddl)
        return
    with psycopg.connect(target.conninfo) as con:
        con.execute(raw_ddl("postgresql"))
        con.execute(f"alter table raw.touchpoints add constraint no_check_ins {_NO_CHECK_INS}")


def test_rows_the_warehouse_refuses_are_quarantined_and_the_rest_commit(
    kafka: KafkaSettings, loader_settings: LoaderSettings, warehouse_url: str
) -> None:
    _refuse_check_ins(warehouse_url)
    check_in = encode(event("sales.check_in", event_id=str(uuid.uuid4()), attributes={"channel": "app"}))
    orders = [encode(event(order_id=f"O-{n}")) for n in range(40)]
    records = [("sales", b"k", order) for order in orders]
    records[7:7] = [("sales", b"k", check_in)]
    records[30:30] = [("sales", b"k", check_in), ("sales", b"k", b"not json")]  # a redelivery, a poison
    publish(kafka, records)

    stats = load(kafka, loader_settings, warehouse_url)

    assert (stats.loaded, stats.quarantined, stats.refused) == (40, 3, 2)
    assert query(warehouse_url, "select count(*) from raw.touchpoints") == [(40,)]
    quarantined = query(warehouse_url, "select payload, reason from raw.quarantine order by kafka_offset")
    assert [bytes(payload) for payload, _ in quarantined] == [check_in, check_in, b"not json"]
    for _, reason in quarantined[:2]:
        assert reason.startswith("the warehouse refused this event (")
        assert "check constraint" in reason.lower() and "journeys quarantine replay" in reason
    consumer = KafkaConsumer(
        dlq_topic(kafka), **client_options(kafka), auto_offset_reset="earliest", consumer_timeout_ms=5000
    )
    assert sorted(record.value for record in consumer) == sorted([check_in, check_in, b"not json"])
    consumer.close()

    # The offsets committed with the rows: a second run finds nothing left to load.
    again = load(kafka, loader_settings, warehouse_url)
    assert (again.consumed, again.loaded, again.quarantined) == (0, 0, 0)
    assert query(warehouse_url, "select count(*) from raw.quarantine") == [(3,)]
