"""Scenario 6: whole ranges delivered twice, events weeks late and out of order, loaded and built
incrementally in several rounds, give exactly the marts of one clean, in-order run."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from journeys_core.settings import KafkaSettings, LoaderSettings
from streams.broker import EmbeddedBroker
from streams.simulator import Simulation, SimulationConfig
from streams.topics import ensure_topics
from tests.helpers import load, publish
from tests.marts import all_marts, assert_built, late_batches, run_dbt
from tests.reliability.ledger import assert_exact, take

CONFIG = SimulationConfig(customers=80, days=75, seed=23, start=dt.date(2026, 7, 1))
AS_OF = dt.date(2026, 9, 14)  # the end of the simulated window
LOADER = LoaderSettings(idle_seconds=1.0, batch_max_seconds=1.0)
ROUNDS = 2


def _topics(broker: EmbeddedBroker) -> KafkaSettings:
    name = uuid.uuid4().hex[:10]
    kafka = broker.settings().model_copy(update={"topic_prefix": f"t{name}", "consumer_group": f"g{name}"})
    ensure_topics(kafka)
    return kafka


def test_redelivered_late_and_shuffled_events_give_the_marts_of_a_clean_run(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    simulated = list(Simulation(CONFIG).records())
    records = [(r.department, r.key, r.value) for r in simulated]
    event_ids = {r.event_id for r in simulated if r.kind == "event" and r.event_id}
    malformed = {r.value for r in simulated if r.kind == "malformed"}

    clean_url = f"duckdb:///{tmp_path}/clean.duckdb"
    kafka = _topics(broker)
    publish(kafka, records)
    load(kafka, LOADER, clean_url)
    assert_built(run_dbt(clean_url, tmp_path / "clean", as_of=AS_OF))
    expected = all_marts(clean_url)
    assert expected["fct_touchpoints"], "the clean run built empty marts"

    # Round one: its events, some weeks late, shuffled. Round two: its own events twice over, and
    # the whole of round one again.
    url = f"duckdb:///{tmp_path}/faulty.duckdb"
    kafka = _topics(broker)
    first, second = late_batches(records, batches=ROUNDS, seed=5)
    published: list[tuple[str, bytes, bytes]] = []
    for delivery in (first, second + first + second):
        published += delivery
        publish(kafka, delivery)
        load(kafka, LOADER, url)
        assert_built(run_dbt(url, tmp_path / "faulty", as_of=AS_OF))

    ledger = take(
        "duplicated, late and out-of-order delivery",
        url,
        produced=len(published),
        event_ids=event_ids,
        rejected=sum(value in malformed for _, _, value in published),
    )
    assert_exact(ledger)
    got = all_marts(url)
    for table, rows in expected.items():
        assert got[table] == rows, f"{table} differs: {len(set(got[table]) ^ set(rows))} rows"
