"""Scenario 3: no broker when the loader starts: bounded retries with backoff and a clear message,
and a clean start when the broker turns up while it is still retrying."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from journeys_core.settings import KafkaSettings, LoaderSettings
from streams.broker import EmbeddedBroker, free_port
from streams.topics import ensure_topics
from tests.helpers import loader_env, publish, run_journeys
from tests.production import Production, wait_for
from tests.reliability.background import BackgroundLoader
from tests.reliability.ledger import assert_production_stored


def _nowhere() -> KafkaSettings:
    port = free_port()  # free now, and nothing will listen on it
    return KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}", topic_prefix="nowhere", consumer_group="g")


def test_no_broker_at_all_ends_with_one_clear_sentence(tmp_path: Path) -> None:
    kafka = _nowhere()
    result = run_journeys("ingest", env=loader_env(kafka, f"duckdb:///{tmp_path}/w.duckdb"), timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    # It said it was retrying while it waited, then gave up with what to do.
    assert result.stderr.count("did not answer") == 2, result.stderr
    error = " ".join(result.stderr.split("error:")[1].split())
    assert error.startswith(f"cannot reach Kafka at {kafka.bootstrap_servers} after 3 attempts"), error
    assert "JOURNEYS_KAFKA_BOOTSTRAP_SERVERS" in error


def test_loader_starts_cleanly_when_the_broker_appears_during_its_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kafka = _nowhere()
    production = Production(5000, seed=51)
    url = f"duckdb:///{tmp_path}/warehouse.duckdb"
    loader = BackgroundLoader(kafka, LoaderSettings(idle_seconds=1.0, batch_max_seconds=1.0), url)
    caplog.set_level(logging.WARNING, logger="streams.topics")
    loader.start()
    port = int(kafka.bootstrap_servers.rsplit(":", 1)[1])
    wait_for(lambda: "did not answer" in caplog.text, "the loader to report its first retry", 60)
    with EmbeddedBroker(port=port, partitions=3):
        try:
            ensure_topics(kafka)
            publish(kafka, production.records)
            loader.wait_until_stored(len(production.records), timeout_s=120)
        finally:
            loader.stop()
        assert_production_stored("broker unreachable at start", url, kafka, production)
