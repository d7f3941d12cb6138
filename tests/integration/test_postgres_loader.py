"""The PostgreSQL loader against the real broker and a real server: lost connections and rebalances.

Both tests compare what the warehouse holds with what was produced, event id by event id, and the
stored offsets with the end of every partition: nothing lost, nothing stored twice.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from typing import Any

import psycopg

from journeys_core.settings import KafkaSettings, LoaderSettings
from journeys_core.warehouse import parse_url
from streams.consume import Loader
from streams.sinks import open_sink
from tests.helpers import journeys, loader_env, publish
from tests.production import PacedProducer, Production, assert_stored_exactly, wait_for

# -- 1. the warehouse connection dies mid-batch --------------------------------------------------

KILLS = 3


def test_connection_terminated_mid_batch_is_retried_without_loss_or_duplicates(
    kafka: KafkaSettings, loader_settings: LoaderSettings, postgres_url: str
) -> None:
    """pg_terminate_backend on the loader's connection, three times, each inside a batch transaction
    that has already written: each write is retried on a new connection, nothing lost or doubled."""
    production = Production(60_000, seed=21)
    publish(kafka, production.records)
    # Small batches: many transactions, so the loader is inside one most of the time.
    settings = loader_settings.model_copy(update={"batch_max_records": 2000})
    loader = Loader(kafka, settings, open_sink(postgres_url))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            loader.run()
        except BaseException as error:  # re-raised in the test thread
            errors.append(error)

    database = parse_url(postgres_url).conninfo.rsplit("/", 1)[1]
    thread = threading.Thread(target=run, name="loader", daemon=True)
    killed: list[int] = []
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        thread.start()
        deadline = time.monotonic() + 120
        batches_at_last_kill = 0
        while thread.is_alive() and len(killed) < KILLS and time.monotonic() < deadline:
            # Kill only once a batch committed since the last kill (so each kill hits a fresh
            # batch), and only a backend whose transaction has already written: offsets advanced,
            # rows half copied. pg_stat_activity.backend_xid is set by the first write.
            if loader.stats.batches <= batches_at_last_kill:
                time.sleep(0.01)
                continue
            row = admin.execute(
                "select pid from pg_stat_activity where datname = %s and pid <> pg_backend_pid() "
                "and backend_type = 'client backend' and backend_xid is not null",
                [database],
            ).fetchone()
            if row is None:
                time.sleep(0.005)
                continue
            if admin.execute("select pg_terminate_backend(%s)", [row[0]]).fetchone() == (True,):
                killed.append(row[0])
                batches_at_last_kill = loader.stats.batches
    thread.join(timeout=120)
    assert not thread.is_alive(), "the loader did not finish within 120 s after the last kill"
    if errors:
        raise errors[0]
    assert len(killed) == KILLS, "the loader finished before it could be killed; raise the volume"
    stats = loader.stats
    # Each kill failed one write attempt, which was retried on a new connection.
    assert stats.retries >= KILLS
    assert len(set(killed)) == KILLS  # a new backend each time: it reconnected
    assert_stored_exactly(postgres_url, kafka, production)
    # A kill that lands during COMMIT can leave the batch committed while the client sees an
    # error; the retry then finds its own offsets moved (a conflict) and does not count the rows.
    if stats.offset_conflicts == 0:
        assert stats.loaded == len(production.event_ids)


# -- 2. two loaders in one group, a rebalance each way ---------------------------------------------

# Attribute every stored row to the loader that stored it: each loader connects with its own
# application_name, and a statement trigger (in the same transaction as the batch, so only
# committed batches count) notes who inserted how many rows of which partition, and when.
_AUDIT = """
create table public.load_audit (
    loader text, topic text, kafka_partition integer, rows bigint,
    at timestamptz default clock_timestamp()
);
create function public.audit_load() returns trigger language plpgsql as $$
begin
    insert into public.load_audit (loader, topic, kafka_partition, rows)
    select current_setting('application_name'), topic, kafka_partition, count(*)
    from inserted group by topic, kafka_partition;
    return null;
end $$;
create trigger audit_load after insert on raw.touchpoints
    referencing new table as inserted for each statement execute function public.audit_load();
"""
_SUMMARY = re.compile(r"loaded\s+([\d,]+)\s+events,\s+quarantined\s+([\d,]+)")


def _summary(stdout: str) -> tuple[int, int]:
    match = _SUMMARY.search(stdout)
    assert match, f"no summary line in {stdout!r}"
    return int(match[1].replace(",", "")), int(match[2].replace(",", ""))


def test_two_loaders_split_partitions_and_survive_rebalances(kafka: KafkaSettings, postgres_url: str) -> None:
    """Two `journeys ingest --follow` in one group: a second joins while the first loads, they split
    the partitions, the first stops on SIGTERM mid-stream and the second takes over.

    This caught a loss: after a rebalance the loader positioned a re-assigned partition at its stored
    offset but still took the records that same poll had fetched from the client's older, further
    position, so a batch claimed offsets it never held (see `positioned` in `Loader._loop`).
    """
    production = Production(60_000, seed=22)
    upfront, streamed = production.records[:15_000], production.records[15_000:]
    publish(kafka, upfront)
    sink = open_sink(postgres_url)
    sink.setup()  # the raw schema, so the audit trigger is in place before anything loads
    sink.close()

    def start(name: str) -> subprocess.Popen[str]:
        env = loader_env(
            kafka,
            f"{postgres_url}?application_name={name}",
            JOURNEYS_LOADER_BATCH_MAX_RECORDS="5000",
            JOURNEYS_LOADER_BATCH_MAX_SECONDS="1.0",
        )
        return journeys("ingest", "--follow", env=env)

    with psycopg.connect(postgres_url, autocommit=True) as watch:
        watch.execute(_AUDIT)

        def one(sql: str, *params: object) -> Any:
            row = watch.execute(sql, params).fetchone()
            assert row is not None
            return row[0]

        def rows_by(loader: str) -> int:
            return int(one("select coalesce(sum(rows), 0) from public.load_audit where loader = %s", loader))

        # The rest is published in the background through both rebalances, so each happens while
        # records arrive and are being loaded; the last 5,000 only once the first loader is gone.
        producer = PacedProducer(kafka, streamed, held=5000)
        first = start("loader-a")
        second: subprocess.Popen[str] | None = None
        try:
            wait_for(lambda: rows_by("loader-a") > 0, "the first loader to load rows")
            producer.start()
            # Rebalance 1: a second member joins while the first is loading.
            second = start("loader-b")
            wait_for(lambda: rows_by("loader-b") > 0, "the second loader to load rows")
            joined = one("select min(at) from public.load_audit where loader = 'loader-b'")
            wait_for(
                lambda: (
                    one("select count(distinct loader) from public.load_audit where at > %s", joined) == 2
                ),
                "both loaders to load side by side",
            )
            # Rebalance 2: the first loader stops mid-stream; the second takes over its partitions.
            first.send_signal(signal.SIGTERM)
            first_out, first_err = first.communicate(timeout=60)
            assert first.returncode == 0, first_err
            producer.release()
            producer.join(timeout=120)
            assert not producer.is_alive() and not producer.errors, producer.errors

            total = len(production.records)
            wait_for(
                lambda: one("select coalesce(sum(next_offset), 0) from raw.ingest_offsets") == total,
                "the second loader to load everything",
            )
            time.sleep(1.5)  # one more batch window, so a (wrong) extra write would show
            second.send_signal(signal.SIGTERM)
            second_out, second_err = second.communicate(timeout=60)
            assert second.returncode == 0, second_err
        finally:
            producer.release()
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.communicate()

        assert_stored_exactly(postgres_url, kafka, production)

        # While both were members they loaded disjoint sets of partitions. The window ends at the
        # first loader's last write (its final batch on SIGTERM); later writes are the take-over.
        last_a = one("select max(at) from public.load_audit where loader = 'loader-a'")
        owned: dict[str, set[tuple[str, int]]] = {"loader-a": set(), "loader-b": set()}
        for loader, topic, partition in watch.execute(
            "select loader, topic, kafka_partition from public.load_audit where at >= %s and at <= %s",
            [joined, last_a],
        ):
            owned[loader].add((topic, partition))
        assert owned["loader-a"] and owned["loader-b"], owned
        assert not owned["loader-a"] & owned["loader-b"], owned
        # After the first one left, the second loaded the partitions the first had owned too.
        taken_over = set(
            watch.execute(
                "select topic, kafka_partition from public.load_audit where loader = 'loader-b' and at > %s",
                [last_a],
            ).fetchall()
        )
        assert owned["loader-a"] <= taken_over, (owned, taken_over)

        # Each loader's own summary agrees with what the warehouse attributes to it; together they
        # loaded each event exactly once and quarantined each malformed record exactly once.
        loaded_a, quarantined_a = _summary(first_out)
        loaded_b, quarantined_b = _summary(second_out)
        assert (loaded_a, loaded_b) == (rows_by("loader-a"), rows_by("loader-b"))
        assert loaded_a > 0 and loaded_b > 0
        assert loaded_a + loaded_b == len(production.event_ids)
        assert quarantined_a + quarantined_b == production.bad


def test_connection_lost_before_setup_is_retried(
    kafka: KafkaSettings, loader_settings: LoaderSettings, postgres_url: str
) -> None:
    """The sink's connection dies between opening and the raw DDL: the loader reconnects and loads."""
    production = Production(500, seed=23)
    publish(kafka, production.records)
    sink = open_sink(postgres_url)
    assert isinstance(sink.connection, psycopg.Connection)  # type: ignore[attr-defined]
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("select pg_terminate_backend(%s)", [sink.connection.info.backend_pid])  # type: ignore[attr-defined]
    loader = Loader(kafka, loader_settings, sink)
    stats = loader.run()
    assert stats.retries >= 1
    assert_stored_exactly(postgres_url, kafka, production)
