"""Helpers shared by integration tests: publish, run loaders, read the warehouse back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from journeys_core.settings import KafkaSettings, LoaderSettings
from journeys_core.warehouse import parse_url
from streams.consume import Loader, LoadStats
from streams.produce import Publisher
from streams.sinks import open_sink

ROOT = Path(__file__).resolve().parents[1]


def publish(kafka: KafkaSettings, records: Iterable[tuple[str, bytes | None, bytes]]) -> int:
    publisher = Publisher(kafka)
    for department, key, value in records:
        publisher.publish(department, key, value)
    return publisher.close()


def load(kafka: KafkaSettings, settings: LoaderSettings, url: str) -> LoadStats:
    return Loader(kafka, settings, open_sink(url, duckdb_memory_limit=settings.duckdb_memory_limit)).run()


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    target = parse_url(url)
    if target.kind == "duckdb":
        with duckdb.connect(str(target.path), read_only=True) as con:
            return con.execute(sql).fetchall()
    with psycopg.connect(target.conninfo) as con:
        return con.execute(sql).fetchall()


def loader_env(kafka: KafkaSettings, url: str, **extra: str) -> dict[str, str]:
    """Environment for a `journeys ingest` subprocess pointed at this test's topics and warehouse."""
    return {
        **os.environ,
        "JOURNEYS_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "JOURNEYS_KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "JOURNEYS_KAFKA_CONSUMER_GROUP": kafka.consumer_group,
        "JOURNEYS_WAREHOUSE_URL": url,
        "JOURNEYS_LOADER_IDLE_SECONDS": "1.0",
        # PostgreSQL refuses the built-in development key (journeys_core.privacy).
        "JOURNEYS_PII_KEY": "journeys-test-key: not a secret",
        **extra,
    }


def run_journeys(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the `journeys` command to completion, as a user would, with a wide terminal."""
    return subprocess.run(
        [sys.executable, "-m", "journeys", *args],
        env={**env, "COLUMNS": "200"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def journeys(*args: str, env: dict[str, str], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "journeys", *args],
        env=env,
        cwd=kwargs.pop("cwd", ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


class WatchedLoader:
    """A verbose loader process (`command` ends in `--verbose ingest`, or runs that itself) whose log is
    read as it comes: `committed` is set once it logs its first committed batch."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            command,
            env={**env, "COLUMNS": "200"},  # one log line per record: "committed batch" is never wrapped
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.committed = threading.Event()
        self.log: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:  # drained to the end, so the pipe never fills
            self.log.append(line)
            if "committed batch" in line:
                self.committed.set()

    def wait(self) -> int:
        returncode = self.process.wait(timeout=300)
        self.reader.join(timeout=10)
        return returncode


ROW_COLUMNS = (
    "event_id, event_type, department, schema_version, occurred_at, source, customer_id, email, "
    "phone, order_id, attributes, topic, kafka_partition, kafka_offset"
)


def touchpoint_rows(url: str) -> list[tuple[Any, ...]]:
    """Every stored touchpoint except its load time, in a stable order, for exact comparisons."""
    return query(url, f"select {ROW_COLUMNS} from raw.touchpoints order by event_id")


@contextmanager
def fresh_database(postgres_server: str) -> Iterator[str]:
    """A new PostgreSQL database on the test server, dropped afterwards whatever happens."""
    name = f"journeys_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    try:
        yield f"{postgres_server.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


@contextmanager
def scratch_warehouse(kind: str, workdir: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty warehouse of `kind` for a fixture of any scope: a DuckDB file or a new database."""
    if kind == "duckdb":
        yield f"duckdb:///{workdir}/warehouse.duckdb"
        return
    with fresh_database(str(request.getfixturevalue("postgres_server"))) as url:
        yield url


_WAIT_S = 45.0


def _default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored, and children inherit that: undo it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Command:
    """A `journeys` process whose output is read as it comes, to act on it mid-run (Ctrl-C)."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "journeys", *args],
            env={**env, "COLUMNS": "200"},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_default_sigint,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in ((self.process.stdout, self.stdout), (self.process.stderr, self.stderr))
        ]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _read(stream: object, lines: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]  # drained to the end: the pipe never fills
            lines.append(line)

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + _WAIT_S
        while not condition():
            assert self.process.poll() is None, f"exited before {what}: {''.join(self.stderr)[-2000:]}"
            assert time.monotonic() < deadline, f"no {what} within {_WAIT_S:.0f} s"
            time.sleep(0.05)

    def interrupt(self) -> tuple[int, str, str]:
        """Ctrl-C, then its exit code, stdout and stderr."""
        self.process.send_signal(signal.SIGINT)
        try:
            returncode = self.process.wait(timeout=_WAIT_S)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        for reader in self.readers:
            reader.join(timeout=10)
        return returncode, "".join(self.stdout), "".join(self.stderr)
