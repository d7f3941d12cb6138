"""Scenario 4: PostgreSQL loses the loader's backend in the middle of COMMIT, and the whole server
restarts during a run; the loader reconnects, retries, and stores every event once."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import psycopg
import pytest
from kafka import KafkaConsumer

from journeys_core.settings import KafkaSettings, LoaderSettings
from journeys_core.warehouse import parse_url
from streams.kafka_config import client_options
from streams.sinks import open_sink
from streams.topics import department_topics
from tests.helpers import publish
from tests.production import Production, wait_for
from tests.reliability.background import BackgroundLoader
from tests.reliability.ledger import assert_exact, assert_production_stored, take
from tests.reliability.scale import Sizes

SETTINGS = LoaderSettings(idle_seconds=1.0, batch_max_seconds=1.0, batch_max_records=2000)
COMMIT_KILLS = 3

# Holds every batch transaction inside COMMIT for a moment: a deferred constraint trigger runs at
# commit time, so a backend seen sleeping in it is mid-commit, its batch written but not durable.
_SLOW_COMMIT = """
create function public.slow_commit() returns trigger language plpgsql as $$
begin
    if current_setting('journeys.slowed', true) is distinct from 'yes' then
        perform set_config('journeys.slowed', 'yes', true);
        perform pg_sleep(0.2);
    end if;
    return null;
end $$;
create constraint trigger slow_commit after insert or update on raw.ingest_offsets
    deferrable initially deferred for each row execute function public.slow_commit();
"""


def _setup_raw(url: str) -> None:
    sink = open_sink(url)
    sink.setup()
    sink.close()


def test_backend_terminated_mid_commit(kafka: KafkaSettings, postgres_url: str, sizes: Sizes) -> None:
    production = Production(sizes.postgres_events, seed=61)
    publish(kafka, production.records)
    _setup_raw(postgres_url)
    database = parse_url(postgres_url).conninfo.rsplit("/", 1)[1]
    killed: list[int] = []
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(_SLOW_COMMIT)
        loader = BackgroundLoader(kafka, SETTINGS, postgres_url).start()
        try:
            while len(killed) < COMMIT_KILLS and loader.thread.is_alive():
                row = admin.execute(
                    "select pid, query from pg_stat_activity where datname = %s and "
                    "pid <> pg_backend_pid() and state = 'active' and wait_event = 'PgSleep'",
                    [database],
                ).fetchone()
                if row is None:
                    time.sleep(0.02)
                    continue
                pid, statement = row
                assert statement.strip().lower() == "commit", statement  # where the trigger sleeps
                if admin.execute("select pg_terminate_backend(%s)", [pid]).fetchone() == (True,):
                    killed.append(pid)
                    loader.wait_until_stored(loader.stored() + 1, timeout_s=60)  # the retry went through
            loader.wait_until_stored(len(production.records))
        finally:
            loader.stop()
    assert len(killed) == COMMIT_KILLS, "the loader finished before it could be killed; raise the volume"
    assert loader.loader.stats.retries >= COMMIT_KILLS
    assert_production_stored("PostgreSQL backend terminated mid-commit", postgres_url, kafka, production)


def test_connection_lost_while_idle_then_a_rebalance(kafka: KafkaSettings, postgres_url: str) -> None:
    """The loader's connection dies while it waits for events (a restart at night), and the next
    thing that needs the warehouse is a rebalance reading the stored offsets, not a write.

    This caught a crash: reading the stored offsets let psycopg's error escape instead of
    reconnecting, so a `--follow` loader died on the first rebalance after a server restart.
    """
    first, second = Production(3000, seed=63), Production(3000, seed=64)
    publish(kafka, first.records)
    loader = BackgroundLoader(kafka, SETTINGS, postgres_url).start()
    database = parse_url(postgres_url).conninfo.rsplit("/", 1)[1]
    try:
        loader.wait_until_stored(len(first.records), timeout_s=120)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            terminated = admin.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = %s and pid <> pg_backend_pid()",
                [database],
            ).fetchall()
        assert terminated == [(True,)]  # the loader's one connection, idle
        # A second member joins and leaves: two rebalances, each re-reading the stored offsets.
        member = KafkaConsumer(
            **client_options(kafka), group_id=kafka.consumer_group, enable_auto_commit=False
        )
        member.subscribe(department_topics(kafka))
        wait_for(lambda: bool(member.poll(timeout_ms=200) or member.assignment()), "the join", 60)
        member.close(autocommit=False)
        publish(kafka, second.records)
        loader.wait_until_stored(len(first.records) + len(second.records), timeout_s=120)
    finally:
        loader.stop()
    ledger = take(
        "PostgreSQL connection lost while idle, then a rebalance",
        postgres_url,
        produced=len(first.records) + len(second.records),
        event_ids=first.event_ids | second.event_ids,
        rejected=first.bad + second.bad,
    )
    assert_exact(ledger)


# The cluster behind JOURNEYS_TEST_POSTGRES_URL, as "version/name"; while others share the main
# cluster, point both at a cluster of your own (docs/reliability.md).
CLUSTER = os.environ.get("JOURNEYS_RELIABILITY_PG_CLUSTER", "15/main")


def _cluster(action: str) -> subprocess.CompletedProcess[str]:
    version, name = CLUSTER.split("/")
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, action],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _server_up(postgres_server: str) -> bool:
    try:
        with psycopg.connect(postgres_server, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture
def restartable_url(postgres_server: str, postgres_url: str) -> Iterator[str]:
    """A fresh database on the shared server, which is up again after the test whatever happened
    (torn down before the database is dropped)."""
    yield postgres_url
    if not _server_up(postgres_server):
        _cluster("start")
    wait_for(lambda: _server_up(postgres_server), "PostgreSQL to accept connections again", 60)


def test_postgres_restarted_during_a_run(kafka: KafkaSettings, restartable_url: str, sizes: Sizes) -> None:
    postgres_url = restartable_url
    production = Production(sizes.postgres_events, seed=62)
    publish(kafka, production.records)
    loader = BackgroundLoader(kafka, SETTINGS, postgres_url).start()
    try:
        wait_for(lambda: loader.stored() > 0, "the loader to store its first batch")
        restarted = _cluster("restart")
        assert restarted.returncode == 0, restarted.stderr
        print(f"PostgreSQL restarted after {loader.stored():,} records were stored")
        loader.wait_until_stored(len(production.records))
    finally:
        loader.stop()
    assert loader.loader.stats.retries >= 1, "the restart did not interrupt the loader"
    assert_production_stored("PostgreSQL restarted", postgres_url, kafka, production)
