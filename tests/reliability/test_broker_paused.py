"""Scenario 2: the broker frozen (SIGSTOP, then SIGCONT) while events are produced and loaded."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from journeys_core.settings import KafkaSettings, LoaderSettings
from streams.broker import EmbeddedBroker
from streams.topics import ensure_topics
from tests.production import (
    PacedProducer,
    Production,
    wait_for,
)
from tests.reliability.background import BackgroundLoader
from tests.reliability.ledger import assert_production_stored
from tests.reliability.scale import Sizes


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    """A broker of this test's own: freezing the session's would stall every other test's topics."""
    with EmbeddedBroker(partitions=3) as embedded:
        yield embedded


def test_broker_paused_while_producing_and_loading(
    own_broker: EmbeddedBroker, tmp_path: Path, sizes: Sizes
) -> None:
    kafka: KafkaSettings = own_broker.settings().model_copy(
        update={"topic_prefix": "paused", "consumer_group": "paused-loader"}
    )
    ensure_topics(kafka)
    production = Production(sizes.pause_events, seed=41)
    url = f"duckdb:///{tmp_path}/warehouse.duckdb"
    settings = LoaderSettings(idle_seconds=1.0, batch_max_seconds=1.0, batch_max_records=2000)
    loader = BackgroundLoader(kafka, settings, url)
    producer = PacedProducer(kafka, production.records, held=0)
    producer.release()  # nothing held back: the pause is the only interruption
    process = own_broker.process
    assert process is not None
    loader.start()
    producer.start()
    try:
        wait_for(lambda: loader.stored() > 0, "the loader to store its first batch")
        os.kill(process.pid, signal.SIGSTOP)
        frozen_at = loader.stored()
        time.sleep(sizes.pause_seconds)
        os.kill(process.pid, signal.SIGCONT)
        print(f"broker frozen for {sizes.pause_seconds:.0f} s after {frozen_at:,} events were stored")
        producer.join(timeout=600)
        assert not producer.is_alive() and not producer.errors, producer.errors
        loader.wait_until_stored(len(production.records))
    finally:
        os.kill(process.pid, signal.SIGCONT)  # whatever happened, never leave the broker frozen
        loader.stop()
    assert_production_stored("broker paused", url, kafka, production)
