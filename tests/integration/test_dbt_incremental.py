"""Order independence: the same events in one batch, or in five shuffled batches with an incremental
dbt run after each (events arriving weeks late, identities merging late), give identical marts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

from journeys_core.settings import KafkaSettings, LoaderSettings
from streams.broker import EmbeddedBroker
from streams.simulator import Simulation, SimulationConfig
from streams.topics import ensure_topics
from tests.helpers import load, publish, query
from tests.marts import all_marts, assert_built, late_batches, run_dbt

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
