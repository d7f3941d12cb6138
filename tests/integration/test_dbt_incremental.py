"""Order independence: the same events in one batch, or in five shuffled batches with an incremental
dbt run after each (events arriving weeks late, identities merging late), give identical marts.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

from journeys_core.settings import KafkaSettings, LoaderSettings, PrivacySettings
from streams.broker import EmbeddedBroker
from streams.replay import read_corrections, replay
from streams.simulator import Simulation, SimulationConfig
from streams.topics import ensure_topics
from tests.helpers import load, publish, query
from tests.marts import TEST_PII_KEY, all_marts, assert_built, late_batches, run_dbt

CONFIG = SimulationConfig(customers=80, days=75, seed=11, start=dt.date(2026, 7, 1))
AS_OF = dt.date(2026, 9, 14)  # the end of the simulated window
LOADER = LoaderSettings(idle_seconds=1.0, batch_max_seconds=1.0)


def _topics(broker: EmbeddedBroker) -> KafkaSettings:
    name = uuid.uuid4().hex[:10]
    kafka = broker.settings().model_copy(update={"topic_prefix": f"t{name}", "consumer_group": f"g{name}"})
    ensure_topics(kafka)
    return kafka


def test_five_late_shuffled_batches_give_the_marts_of_one_batch(
    broker: EmbeddedBroker, warehouse_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    records = [(r.department, r.key, r.value) for r in Simulation(CONFIG).records()]
    batches = late_batches(records, batches=5)
    assert sum(map(len, batches)) == len(records)

    # One batch, one build: the reference.
    reference_url = (
        f"duckdb:///{tmp_path}/reference.duckdb"
        if warehouse_url.startswith("duckdb")
        else str(request.getfixturevalue("postgres_url_2"))
    )
    kafka = _topics(broker)
    publish(kafka, records)
    load(kafka, LOADER, reference_url)
    assert_built(run_dbt(reference_url, tmp_path / "reference", as_of=AS_OF))
    expected = all_marts(reference_url)

    # Five batches, an incremental build after each.
    kafka = _topics(broker)
    anonymous_seen = 0
    for batch in batches:
        publish(kafka, batch)
        load(kafka, LOADER, warehouse_url)
        assert_built(run_dbt(warehouse_url, tmp_path / "batches", as_of=AS_OF))
        anonymous_seen += query(
            warehouse_url, "select count(*) from marts.fct_touchpoints where customer_key like 'anon-%'"
        )[0][0]
    # The withheld sales events made some customers anonymous until their customer id arrived.
    assert anonymous_seen > 0
    got = all_marts(warehouse_url)

    for table, rows in expected.items():
        assert got[table] == rows, f"{table} differs: {len(set(got[table]) ^ set(rows))} rows"
    assert expected["fct_touchpoints"], "the reference marts are empty"


# One attribute the contract refuses, per event type the test breaks.
_BREAKS = {
    "sales.order_placed": ("amount", "lots"),
    "shipping.delivered": ("damaged", "maybe"),
    "support.ticket_opened": ("category", "teleportation"),
}


def test_events_replayed_from_quarantine_reach_the_marts_of_the_next_incremental_run(
    broker: EmbeddedBroker, warehouse_url: str, tmp_path: Path
) -> None:
    records = [(r.department, r.key, r.value) for r in Simulation(CONFIG).records()]
    originals: dict[str, dict[str, object]] = {}
    for index, (department, key, value) in enumerate(records):
        try:
            payload = json.loads(value)
        except ValueError:
            continue  # the simulator's malformed records
        broken = _BREAKS.get(str(payload.get("event_type"))) if isinstance(payload, dict) else None
        if broken is None or index < len(records) // 3 or len(originals) >= 9:
            continue
        originals[str(payload["event_id"])] = payload
        spoilt = {**payload, "attributes": {**payload["attributes"], broken[0]: broken[1]}}
        records[index] = (department, key, json.dumps(spoilt).encode())
    assert len(originals) == 9

    # Everything loads; the spoilt events wait in quarantine, and staging moves past their offsets.
    kafka = _topics(broker)
    publish(kafka, records)
    load(kafka, LOADER, warehouse_url)
    assert_built(run_dbt(warehouse_url, tmp_path, as_of=AS_OF))

    # Corrected, they are loaded at the offsets where the loader refused them.
    waiting = query(
        warehouse_url, "select topic, kafka_partition, kafka_offset, event_id from raw.quarantine"
    )
    lines = [
        {"topic": topic, "partition": partition, "offset": offset, "event": originals[str(event_id)]}
        for topic, partition, offset, event_id in waiting
        if str(event_id) in originals
    ]
    corrections = tmp_path / "corrections.jsonl"
    corrections.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    privacy = PrivacySettings(pii_key=SecretStr(TEST_PII_KEY))
    fixes = read_corrections(corrections)
    replayed = replay(warehouse_url, loader=LOADER, privacy=privacy, corrections=fixes)
    assert replayed.loaded == len(originals)

    assert_built(run_dbt(warehouse_url, tmp_path, as_of=AS_OF))
    staged = query(warehouse_url, "select cast(event_id as varchar) from marts.fct_touchpoints")
    assert set(originals) <= {event_id for (event_id,) in staged}
    incremental = all_marts(warehouse_url)
    # A second incremental run stages nothing twice.
    assert_built(run_dbt(warehouse_url, tmp_path, as_of=AS_OF))
    assert all_marts(warehouse_url) == incremental

    assert_built(run_dbt(warehouse_url, tmp_path, as_of=AS_OF, full_refresh=True))
    for table, rows in all_marts(warehouse_url).items():
        assert incremental[table] == rows, f"{table} differs: {len(set(incremental[table]) ^ set(rows))} rows"
