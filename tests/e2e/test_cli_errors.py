"""Bad configuration gives one clear sentence and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from streams.broker import free_port
from tests.helpers import run_journeys


def _journeys(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_journeys(*args, env={**os.environ, **env}, timeout=120)


def _one_clear_sentence(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr


@pytest.mark.parametrize(
    "command", [("ingest",), ("simulate", "--customers", "5", "--days", "2")], ids=["ingest", "simulate"]
)
def test_unreachable_broker(command: tuple[str, ...], tmp_path: Path) -> None:
    port = free_port()
    result = _journeys(
        *command,
        JOURNEYS_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{port}",
        JOURNEYS_WAREHOUSE_URL=f"duckdb:///{tmp_path}/unused.duckdb",
    )
    _one_clear_sentence(result, "cannot reach Kafka", f"start one with `journeys broker --port {port}`")


def test_unwritable_warehouse_path() -> None:
    # /proc refuses new files even to root, so this holds for any user CI runs as.
    result = _journeys("ingest", JOURNEYS_WAREHOUSE_URL="duckdb:////proc/journeys/w.duckdb")
    _one_clear_sentence(result, "/proc/journeys", "JOURNEYS_WAREHOUSE_URL")


def test_warehouse_path_under_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _journeys("ingest", JOURNEYS_WAREHOUSE_URL=f"duckdb:///{blocker}/w.duckdb")
    _one_clear_sentence(result, "DuckDB warehouse")


def test_malformed_warehouse_url() -> None:
    _one_clear_sentence(
        _journeys("ingest", JOURNEYS_WAREHOUSE_URL="warehouse.duckdb"), "JOURNEYS_WAREHOUSE_URL"
    )


def test_malformed_bootstrap_servers() -> None:
    result = _journeys("ingest", JOURNEYS_KAFKA_BOOTSTRAP_SERVERS="kafka")
    _one_clear_sentence(result, "JOURNEYS_KAFKA_BOOTSTRAP_SERVERS")


def test_broker_port_taken() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = _journeys("broker", "--port", str(port))
    _one_clear_sentence(result, "already taken")


def test_help_teaches() -> None:
    result = _journeys("--help")
    assert result.returncode == 0
    for command in ("broker", "simulate", "produce", "ingest", "run"):
        assert command in result.stdout


def test_a_misspelt_setting_is_named_before_its_default_is_used(tmp_path: Path) -> None:
    # JOURNEYS_WAREHOUSE_URI is ignored, so the default DuckDB file is what gets read.
    result = _journeys(
        "quarantine", "list", JOURNEYS_WAREHOUSE_URI=f"duckdb:///{tmp_path}/meant.duckdb", COLUMNS="200"
    )
    assert (
        "warning: JOURNEYS_WAREHOUSE_URI is not a setting (ignored): did you mean JOURNEYS_WAREHOUSE_URL?"
        in result.stderr
    )
