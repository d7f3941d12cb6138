"""`journeys status` judges freshness as dbt does, says how long ago things happened, who holds a
DuckDB file it cannot read, and how many distinct records the quarantine's rows are."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import yaml
from rich.console import Console

from journeys import status
from journeys_core.warehouse import WarehouseError
from tests.helpers import ROOT


def test_freshness_limits_are_the_dbt_source_freshness() -> None:
    sources = yaml.safe_load((ROOT / "dbt_project/models/staging/_staging__sources.yml").read_text())
    [raw] = [source for source in sources["sources"] if source["name"] == "raw"]
    freshness = raw["freshness"]
    assert freshness["warn_after"] == {"count": status.FRESH_WARN.total_seconds() / 3600, "period": "hour"}
    assert freshness["error_after"] == {"count": status.FRESH_ERROR.total_seconds() / 3600, "period": "hour"}


def test_freshness_state_treats_naive_timestamps_as_utc() -> None:
    now = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    view = status.Status(warehouse="w", broker="b", consumer_group="g", now=now)
    assert view.freshness_state(dt.datetime(2026, 11, 28, 11)) == "ok"
    assert view.freshness_state(dt.datetime(2026, 11, 28, 3, tzinfo=dt.UTC)) == "warn"
    assert view.freshness_state(dt.datetime(2026, 11, 26, 12)) == "error"


def test_ago_reads_at_a_glance() -> None:
    now = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    assert status._ago(now, None) == "never"
    assert status._ago(now, now - dt.timedelta(seconds=12)) == "12 s ago"
    assert status._ago(now, now - dt.timedelta(minutes=90)) == "1.5 h ago"
    assert status._ago(now, dt.datetime(2026, 11, 25, 12)) == "3.0 d ago"


def test_a_topic_that_ends_before_what_was_loaded_is_flagged_not_shown_as_caught_up() -> None:
    now = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    view = status.Status(warehouse="w", broker="b", consumer_group="g", now=now)
    view.lags = [
        status.TopicLag("t.sales", end=40, stored=300, updated_at=now, replaced=True),
        status.TopicLag("t.support", end=90, stored=90, updated_at=now),
    ]
    console = Console(width=160, record=True)
    console.print(status.render(view))
    printed = console.export_text()
    assert "re-created?" in printed
    assert "journeys ingest says what to do" in printed


def _locked(message: str) -> WarehouseError:
    error = WarehouseError("the DuckDB warehouse w.duckdb is in use by another process")
    error.__cause__ = duckdb.IOException(message)
    return error


def test_a_lock_on_the_duckdb_file_names_its_holder() -> None:
    held = 'IO Error: Could not set lock on file "w.duckdb": Conflicting lock is held in {} (PID {}).'
    # This test process is not a loader: its command line has no `ingest`.
    assert status.lock_holder(_locked(held.format("/usr/bin/python3", os.getpid()))) == (
        f"another process (pid {os.getpid()})"
    )
    assert status.lock_holder(_locked("IO Error: Could not set lock on file")) == "another process"
    assert status.lock_holder(_locked("IO Error: No such file or directory")) is None
    assert status.lock_holder(WarehouseError("cannot connect")) is None


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads command lines from /proc")
def test_a_holder_running_ingest_is_named_a_loader() -> None:
    held = 'IO Error: Could not set lock on file "w.duckdb": Conflicting lock is held in python3 (PID {}).'
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "ingest"]) as loader:
        try:
            started = Path(f"/proc/{loader.pid}/cmdline")
            while not started.read_bytes():  # empty for a moment while the process starts
                time.sleep(0.01)
            assert status.lock_holder(_locked(held.format(loader.pid))) == (
                f"a running loader (pid {loader.pid})"
            )
        finally:
            loader.kill()


def test_a_held_file_shows_the_lag_from_kafka_and_says_the_warehouse_is_unavailable() -> None:
    now = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    view = status.Status(warehouse="w", broker="b", consumer_group="g", now=now)
    view.held_by = "a running loader (pid 4242)"
    view.lags = [status.TopicLag("t.sales", end=40, stored=30, updated_at=None)]
    console = Console(width=160, record=True)
    console.print(status.render(view))
    printed = console.export_text()
    assert printed.splitlines()[0] == (
        "the DuckDB file is held by a running loader (pid 4242): showing what the broker knows"
    )
    assert re.search(r"t\.sales\s*│\s*40\s*│\s*30\s*│\s*10\s*│\s*\?\s*│", printed)
    assert "committed in Kafka" in printed and "last load: unknown while the DuckDB file is held" in printed
    assert printed.count("(unavailable while the DuckDB file is held)") == 3  # rows, freshness, gates

    view.lags, view.broker_problem = [], "not reachable"
    console = Console(width=160, record=True)
    console.print(status.render(view))
    assert "(the warehouse is held and the broker did not answer: lag unknown)" in console.export_text()


def test_the_quarantine_count_says_how_many_distinct_records_its_copies_are() -> None:
    view = status.Status(warehouse="w", broker="b", consumer_group="g")
    view.counts = {"raw.quarantine": 334}
    view.quarantine_distinct = 167
    console = Console(width=160, record=True)
    console.print(status.render(view))
    assert re.search(r"raw\.quarantine \(waiting\)\s*│\s*334 \(167 distinct\)", console.export_text())
    view.quarantine_distinct = 334
    console = Console(width=160, record=True)
    console.print(status.render(view))
    assert "distinct" not in console.export_text()  # no copies: the count says it all
