"""`journeys run` checks what would make it fail late before it publishes anything.

A wrong warehouse, a PII key the warehouse refuses or a report path that cannot be written is one
sentence and exit 2, and leaves nothing in the topics; a report that fails at the very end still
shows what the run did, and names `run`'s own option.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from journeys_core.settings import KafkaSettings
from streams.broker import free_port
from tests.helpers import Command, run_journeys

DEPARTMENTS = ("sales", "shipping", "support")


def _published(kafka: KafkaSettings) -> int:
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(kafka.topic(d), p) for d in DEPARTMENTS for p in range(kafka.partitions)]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def _run(kafka: KafkaSettings, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {name: value for name, value in os.environ.items() if name != "JOURNEYS_PII_KEY"}
    return run_journeys(
        "run",
        "--customers",
        "50",
        "--days",
        "10",
        env={
            **base,
            # A broker that answers, so whatever `run` published would still be in its topics.
            "JOURNEYS_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "JOURNEYS_KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
            "JOURNEYS_KAFKA_CONSUMER_GROUP": kafka.consumer_group,
            "JOURNEYS_WAREHOUSE_URL": f"duckdb:///{tmp_path}/warehouse.duckdb",
            "JOURNEYS_REPORT_PATH": str(tmp_path / "journeys.html"),
            **env,
        },
        timeout=120,
    )


def _refused_before_publishing(
    result: subprocess.CompletedProcess[str], kafka: KafkaSettings, *words: str
) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "using the broker" not in result.stderr, "it went on to the broker"
    for word in words:
        assert word in result.stderr, result.stderr
    assert _published(kafka) == 0


@pytest.mark.parametrize(
    ("env", "words"),
    [
        (
            {"JOURNEYS_WAREHOUSE_URL": "postgresql://journeys@127.0.0.1:5432/journeys"},
            ("JOURNEYS_PII_KEY", "development"),
        ),
        (
            {
                "JOURNEYS_WAREHOUSE_URL": f"postgresql://journeys@127.0.0.1:{free_port()}/journeys",
                "JOURNEYS_PII_KEY": "journeys-test-key",
            },
            ("cannot connect to PostgreSQL",),
        ),
    ],
    ids=["development-key-on-postgresql", "unreachable-postgresql"],
)
def test_warehouse_problems_stop_it_before_publishing(
    kafka: KafkaSettings, tmp_path: Path, env: dict[str, str], words: tuple[str, ...]
) -> None:
    _refused_before_publishing(_run(kafka, tmp_path, **env), kafka, *words)


def test_duckdb_path_under_a_file_stops_it_before_publishing(kafka: KafkaSettings, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = _run(kafka, tmp_path, JOURNEYS_WAREHOUSE_URL=f"duckdb:///{tmp_path}/file/w.duckdb")
    _refused_before_publishing(result, kafka, "DuckDB warehouse", "JOURNEYS_WAREHOUSE_URL")


def test_unwritable_report_path_stops_it_before_publishing(kafka: KafkaSettings, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = _run(kafka, tmp_path, JOURNEYS_REPORT_PATH=str(tmp_path / "file" / "journeys.html"))
    _refused_before_publishing(result, kafka, "cannot write the report", "--output")


def test_report_failing_at_the_end_shows_the_run_then_the_error(tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    env = {
        **os.environ,
        "JOURNEYS_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",  # an embedded broker of its own
        "JOURNEYS_WAREHOUSE_URL": f"duckdb:///{tmp_path}/warehouse.duckdb",
        "JOURNEYS_LOADER_IDLE_SECONDS": "1.0",
    }
    command = Command(
        "run",
        "--customers",
        "150",
        "--days",
        "45",
        "--seed",
        "11",
        "--output",
        str(folder / "j.html"),
        env=env,
    )
    # Past the pre-flight (which made the folder): now the folder becomes a file, so the end fails.
    command.wait_until(lambda: "started an embedded one" in "".join(command.stderr), "the broker")
    folder.rmdir()
    folder.write_text("")
    deadline = time.monotonic() + 120
    while command.process.poll() is None:
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.1)
    for reader in command.readers:
        reader.join(timeout=10)
    stdout, stderr = "".join(command.stdout), "".join(command.stderr)
    assert command.process.returncode == 2, stdout + stderr
    assert "check marts" in stdout and "│ report" in stdout, "the summary table comes first"
    assert "error: cannot write the report" in stderr
    assert "choose a writable file with --output" in stderr  # an option `run` has too
