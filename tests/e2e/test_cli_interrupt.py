"""Ctrl-C as a person presses it: `run`, `simulate` and `transform` stop at once, say where and what is
kept, exit 130; `ingest` (whose normal stop it is) prints totals that match the warehouse and exits 0.

SIGINT is sent once the command is seen inside the stage (records on the broker, a committed batch,
dbt waiting on a lock), never after a fixed sleep.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import psycopg
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from journeys import pipeline
from journeys_core.settings import KafkaSettings
from streams.broker import free_port, port_is_open
from streams.sinks import open_sink
from tests.helpers import Command, loader_env, query, run_journeys


def _in_kafka(bootstrap: str, topics: Callable[[set[str]], list[str]], *, count: bool = False) -> int:
    """Whether the chosen topics hold records (0 while they do not exist); with `count`, how many.

    Counted by reading them: the embedded broker's end offsets are not record counts.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        names = topics(set(admin.list_topics()))
    finally:
        admin.close()
    if not names:
        return 0
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(t, p) for t in names for p in consumer.partitions_for_topic(t) or ()]
        if not count:
            return sum(consumer.end_offsets(partitions).values())
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        records, quiet = 0, 0
        while quiet < 3:  # what was acknowledged is all there: read until nothing more comes
            batch = consumer.poll(timeout_ms=500)
            records += sum(len(messages) for messages in batch.values())
            quiet = 0 if batch else quiet + 1
        return records
    finally:
        consumer.close()


def _run_topics(names: set[str]) -> list[str]:
    return [name for name in names if ".run-" in name and not name.endswith(".dlq")]


def _number(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in {text!r}"
    return int(found.group(1).replace(",", ""))


def _one_line_no_traceback(stderr: str, words: str) -> str:
    assert "Traceback" not in stderr and "Aborted" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("interrupted:")]
    assert len(lines) == 1, stderr[-3000:]
    assert words in lines[0], lines[0]
    return lines[0]


def _run_env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        # Nothing listens there, so `journeys run` starts (and must stop) an embedded broker.
        "JOURNEYS_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "JOURNEYS_WAREHOUSE_URL": f"duckdb:///{home}/warehouse.duckdb",
        "JOURNEYS_REPORT_PATH": str(home / "journeys.html"),
        "JOURNEYS_LOADER_IDLE_SECONDS": "1.0",
        "JOURNEYS_LOADER_BATCH_MAX_RECORDS": "500",
    }


def _embedded_broker(command: Command) -> str:
    command.wait_until(lambda: "started an embedded one" in "".join(command.stderr), "embedded broker")
    return str(_number(r"started an embedded one on 127\.0\.0\.1:(\d+)", "".join(command.stderr)))


def test_run_interrupted_while_simulating_stops_there_and_stops_its_broker(tmp_path: Path) -> None:
    env = _run_env(tmp_path)
    # Big enough that publishing takes far longer than it takes to see it begin.
    command = Command("run", "--customers", "30000", "--days", "30", env=env)
    port = _embedded_broker(command)
    command.wait_until(lambda: _in_kafka(f"127.0.0.1:{port}", _run_topics) > 0, "records published")
    returncode, stdout, stderr = command.interrupt()
    assert returncode == 130, stderr[-3000:]
    line = _one_line_no_traceback(stderr, "journeys run stopped during simulate:")
    assert _number(r"([\d,]+) records acknowledged by the broker, none loaded", line) > 0
    assert "check raw" not in stdout
    assert not port_is_open("127.0.0.1", int(port)), "the embedded broker is still running"
    assert query(env["JOURNEYS_WAREHOUSE_URL"], "select count(*) from raw.touchpoints") == [(0,)]


def test_run_interrupted_while_ingesting_says_what_was_committed(tmp_path: Path) -> None:
    env = _run_env(tmp_path)
    command = Command("--verbose", "run", "--customers", "2000", "--days", "60", env=env)
    port = _embedded_broker(command)
    command.wait_until(lambda: "committed batch" in "".join(command.stderr), "a committed batch")
    returncode, stdout, stderr = command.interrupt()
    assert returncode == 130, stderr[-3000:]
    line = _one_line_no_traceback(stderr, "journeys run stopped during ingest:")
    url = env["JOURNEYS_WAREHOUSE_URL"]
    # What it says it committed is what the warehouse holds: the batch being written counts too.
    assert [(_number(r"([\d,]+) loaded", line),)] == query(url, "select count(*) from raw.touchpoints")
    assert [(_number(r"([\d,]+) quarantined", line),)] == query(url, "select count(*) from raw.quarantine")
    assert "check raw" not in stdout
    assert not port_is_open("127.0.0.1", int(port)), "the embedded broker is still running"


def test_simulate_interrupted_says_how_many_records_and_writes_no_truth(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "JOURNEYS_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "JOURNEYS_KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
    }
    truth = tmp_path / "truth.json"
    command = Command("simulate", "--customers", "30000", "--days", "30", "--truth", str(truth), env=env)
    departments = [kafka.topic(department) for department in ("sales", "shipping", "support")]

    def ours(names: set[str]) -> list[str]:
        return [name for name in departments if name in names]

    command.wait_until(lambda: _in_kafka(kafka.bootstrap_servers, ours) > 0, "records published")
    returncode, _, stderr = command.interrupt()
    assert returncode == 130, stderr[-3000:]
    line = _one_line_no_traceback(stderr, "journeys simulate stopped:")
    # What the broker acknowledged is there. It can hold a few more: records in flight when the
    # bounded flush gave up (a loaded machine) may have landed without their acknowledgement.
    acknowledged = _number(r"([\d,]+) records acknowledged by the broker", line)
    assert 0 < acknowledged <= _in_kafka(kafka.bootstrap_servers, ours, count=True)
    assert "no ground truth written" in line
    assert not truth.exists()


def test_ingest_interrupted_prints_what_the_warehouse_holds(kafka: KafkaSettings, duckdb_url: str) -> None:
    published = pipeline.simulate(kafka, pipeline.simulation_config(2000, 60, 7)).records
    env = loader_env(kafka, duckdb_url, JOURNEYS_LOADER_BATCH_MAX_RECORDS="500")
    command = Command("--verbose", "ingest", env=env)
    command.wait_until(lambda: "committed batch" in "".join(command.stderr), "a committed batch")
    returncode, stdout, stderr = command.interrupt()
    # Ctrl-C is how a loader is stopped: a summary and exit 0, not an error.
    assert returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    loaded = _number(r"loaded ([\d,]+) events", stdout)
    assert loaded < published, "it finished before the interrupt: nothing was tested"
    # The batch being written when Ctrl-C came is committed, so it is counted too.
    assert [(loaded,)] == query(duckdb_url, "select count(*) from raw.touchpoints")
    assert [(_number(r"quarantined ([\d,]+)", stdout),)] == query(
        duckdb_url, "select count(*) from raw.quarantine"
    )
    # And the rest loads next time, exactly once.
    finished = run_journeys("ingest", env=env, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert query(duckdb_url, "select count(*) from raw.touchpoints")[0][0] == loaded + _number(
        r"loaded ([\d,]+) events", finished.stdout
    )


def test_transform_interrupted_says_so_and_what_the_next_one_does(postgres_url: str) -> None:
    sink = open_sink(postgres_url)
    sink.setup()  # an empty raw schema is enough for dbt to start
    sink.close()
    env = {**os.environ, "JOURNEYS_WAREHOUSE_URL": postgres_url, "JOURNEYS_PII_KEY": "journeys-test-key"}
    database = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_url) as lock:
        # dbt's first staging model waits on this lock: the interrupt surely comes while dbt builds.
        lock.execute("lock table raw.touchpoints in access exclusive mode")
        command = Command("transform", env=env)

        def dbt_waits() -> bool:
            with psycopg.connect(postgres_url, autocommit=True) as watcher:
                row = watcher.execute(
                    "select count(*) from pg_stat_activity where datname = %s and wait_event_type = 'Lock'",
                    [database],
                ).fetchone()
            return bool(row and row[0])

        command.wait_until(dbt_waits, "dbt waiting on raw.touchpoints")
        returncode, _, stderr = command.interrupt()
    assert returncode == 130, stderr[-3000:]
    line = _one_line_no_traceback(stderr, "journeys transform stopped:")
    assert "the next `journeys transform` builds the rest" in line
    assert "dbt stopped before building" not in stderr
