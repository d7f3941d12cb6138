"""The loader stores every produced event exactly once, even when killed at random moments."""

from __future__ import annotations

import logging
import os
import random
import signal
import sys
import time
from collections.abc import Iterator

import pytest

from journeys_core.settings import KafkaSettings, LoaderSettings
from streams.topics import ensure_topics
from tests.events import encode, event, stream
from tests.helpers import WatchedLoader, journeys, load, loader_env, publish, query, touchpoint_rows

VOLUME = int(os.environ.get("JOURNEYS_TEST_VOLUME", "200000"))
BAD_EVERY = 1000  # one malformed record per this many
DUPLICATE_EVERY = 500  # one re-published event per this many


def _records(count: int) -> Iterator[tuple[str, bytes, bytes]]:
    for index, (department, key, value) in enumerate(stream(count, seed=11)):
        yield department, key, value
        if index % DUPLICATE_EVERY == 0:
            yield department, key, value  # redelivered with the same event_id
        if index % BAD_EVERY == 0:
            yield department, key, b'{"event_id": "not-a-uuid", "truncated":'


@pytest.fixture(scope="module")
def volume_topics(broker: object) -> dict[str, int | KafkaSettings]:
    """One production of VOLUME events (plus duplicates and malformed ones) shared by the tests."""
    from streams.broker import EmbeddedBroker

    assert isinstance(broker, EmbeddedBroker)
    kafka = broker.settings().model_copy(update={"topic_prefix": f"vol{random.randrange(10**9)}"})
    ensure_topics(kafka)
    produced = publish(kafka, _records(VOLUME))
    bad = len(range(0, VOLUME, BAD_EVERY))
    return {"kafka": kafka, "produced": produced, "distinct_valid": VOLUME, "bad": bad}


def _group(kafka: KafkaSettings, name: str) -> KafkaSettings:
    return kafka.model_copy(update={"consumer_group": f"{name}-{random.randrange(10**9)}"})


@pytest.mark.slow
def test_uninterrupted_and_killed_runs_store_the_same_rows(
    volume_topics: dict[str, object],
    warehouse_url: str,
    request: pytest.FixtureRequest,
    loader_settings: LoaderSettings,
) -> None:
    kafka = volume_topics["kafka"]
    assert isinstance(kafka, KafkaSettings)

    # Uninterrupted run into one warehouse ...
    reference_url = warehouse_url
    stats = load(_group(kafka, "clean"), loader_settings, reference_url)
    distinct, bad = volume_topics["distinct_valid"], volume_topics["bad"]
    assert stats.loaded == distinct and stats.quarantined == bad
    [(rows, ids)] = query(reference_url, "select count(*), count(distinct event_id) from raw.touchpoints")
    [(quarantined,)] = query(reference_url, "select count(*) from raw.quarantine")
    assert rows == ids == distinct
    assert quarantined == bad
    produced_distinct = distinct + bad  # duplicates share an event_id and count once
    assert rows + quarantined == produced_distinct

    # ... and a run killed with SIGKILL at least five times into a second schema of the same kind.
    killed_url = str(request.getfixturevalue("second_warehouse_url"))
    group = _group(kafka, "killed")
    env = loader_env(group, killed_url)
    rng = random.Random(5)
    kills = 0
    while kills < 5:
        if not _kill_after_a_batch(WatchedLoader(INGEST, env), rng):
            break  # finished before we could kill it again
        kills += 1
    assert kills >= 5, "the loader finished before it could be killed five times; raise the volume"
    final = journeys("ingest", env=env)
    _, stderr = final.communicate(timeout=600)
    assert final.returncode == 0, stderr
    assert touchpoint_rows(killed_url) == touchpoint_rows(reference_url)
    assert query(
        killed_url, "select topic, kafka_partition, kafka_offset, reason from raw.quarantine order by 1,2,3"
    ) == query(
        reference_url,
        "select topic, kafka_partition, kafka_offset, reason from raw.quarantine order by 1,2,3",
    )


INGEST = [sys.executable, "-m", "journeys", "--verbose", "ingest"]  # logs each committed batch


def _kill_after_a_batch(loader: WatchedLoader, rng: random.Random) -> bool:
    """SIGKILL the loader soon after it commits a batch; False if it finished first.

    Waiting for the loader's own "committed batch" line puts every kill in the middle of the load,
    however fast this machine loads.
    """
    while not loader.committed.wait(0.05):
        if loader.process.poll() is not None:
            return False
    time.sleep(rng.uniform(0.0, 0.3))  # somewhere inside the next batch
    if loader.process.poll() is not None:
        return False
    loader.process.send_signal(signal.SIGKILL)
    loader.wait()
    return True


@pytest.fixture
def second_warehouse_url(warehouse_url: str, tmp_path: object, request: pytest.FixtureRequest) -> str:
    """Another empty warehouse of the same kind as `warehouse_url`."""
    if warehouse_url.startswith("duckdb"):
        return f"duckdb:///{tmp_path}/second.duckdb"
    return str(request.getfixturevalue("postgres_url_2"))


def test_the_same_events_produced_twice_are_stored_once(
    kafka: KafkaSettings, loader_settings: LoaderSettings, warehouse_url: str
) -> None:
    records = list(stream(1000, seed=3))
    publish(kafka, records)
    first = load(kafka, loader_settings, warehouse_url)
    publish(kafka, records)
    second = load(kafka, loader_settings, warehouse_url)
    assert (first.loaded, second.loaded, second.duplicates) == (1000, 0, 1000)
    assert query(warehouse_url, "select count(*), count(distinct event_id) from raw.touchpoints") == [
        (1000, 1000)
    ]


def test_a_second_run_with_nothing_new_loads_nothing(
    kafka: KafkaSettings, loader_settings: LoaderSettings, duckdb_url: str
) -> None:
    publish(kafka, [("sales", b"O-1", encode(event()))])
    assert load(kafka, loader_settings, duckdb_url).loaded == 1
    again = load(kafka, loader_settings, duckdb_url)
    assert (again.consumed, again.loaded) == (0, 0)


def test_a_mistyped_topic_prefix_is_said_not_silent(
    kafka: KafkaSettings, loader_settings: LoaderSettings, duckdb_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    publish(kafka, [("sales", b"O-1", encode(event()))])
    typo = kafka.model_copy(update={"topic_prefix": kafka.topic_prefix + "x"})
    caplog.set_level(logging.WARNING, logger="streams.consume")
    assert load(typo, loader_settings, duckdb_url).loaded == 0
    assert (
        f"{typo.topic_prefix}.sales, {typo.topic_prefix}.shipping, {typo.topic_prefix}.support did not"
        in caplog.text
    )
    # The prefix meant is the closest spelling, so it comes first among the broker's many.
    named = f"(now {typo.topic_prefix!r}) to a prefix this broker has department topics under: "
    assert named + kafka.topic_prefix in " ".join(caplog.text.split())
    caplog.clear()
    stats = load(kafka, loader_settings, duckdb_url)
    assert stats.loaded == 1 and stats.rate > 0  # the loader times its busy span
    assert "did not exist" not in caplog.text  # topics that exist are not worth a word
