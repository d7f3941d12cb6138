"""`journeys run` as a person runs it on a fresh machine: embedded broker, DuckDB, summary, report.

One small run, then a second with another seed on the same warehouse (running it twice must work),
then `journeys status` and `journeys report`; the report is opened in headless Chromium.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from expectations.suites import all_expectations, mart_suites, raw_suites
from journeys_core.settings import QualitySettings
from streams.broker import EmbeddedBroker, free_port
from tests.browser import open_report
from tests.helpers import query, run_journeys

RAW_EXPECTATIONS = len(list(all_expectations(raw_suites(QualitySettings()))))
MART_EXPECTATIONS = len(list(all_expectations(mart_suites())))
FIGURES = ("outcome-mix", "funnel", "handoffs", "scorecard", "csat", "retention", "paths")


@dataclass(frozen=True)
class Runs:
    url: str
    env: dict[str, str]
    report: Path
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    home = tmp_path_factory.mktemp("run")
    url = f"duckdb:///{home}/warehouse.duckdb"
    env = {
        **os.environ,
        # Nothing listens there, so `journeys run` starts (and stops) an embedded broker itself.
        "JOURNEYS_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "JOURNEYS_WAREHOUSE_URL": url,
        "JOURNEYS_REPORT_PATH": str(home / "report" / "journeys.html"),
        "JOURNEYS_LOADER_IDLE_SECONDS": "1.0",
    }
    first = run_journeys("run", "--customers", "150", "--days", "45", "--seed", "11", env=env)
    second = run_journeys("run", "--customers", "80", "--days", "45", "--seed", "12", env=env)
    yield Runs(url, env, home / "report" / "journeys.html", first, second)


def _stage_seconds(stdout: str) -> dict[str, float]:
    return {
        name.strip(): float(seconds)
        for name, seconds in re.findall(
            r"│ (simulate|ingest|check raw|transform|check marts|report)\s*│.*?│\s+([\d.]+) │", stdout
        )
    }


def test_run_does_every_stage_and_summarises_what_it_found(runs: Runs) -> None:
    assert runs.first.returncode == 0, runs.first.stdout + runs.first.stderr
    assert "started an embedded one" in runs.first.stdout + runs.first.stderr
    stages = _stage_seconds(runs.first.stdout)
    assert list(stages) == ["simulate", "ingest", "check raw", "transform", "check marts", "report"]
    assert f"{RAW_EXPECTATIONS} of {RAW_EXPECTATIONS} expectations met" in runs.first.stdout
    assert f"{MART_EXPECTATIONS} of {MART_EXPECTATIONS} expectations met" in runs.first.stdout
    for heading in ("Journeys by outcome", "Department scorecard", "Slowest hand-offs", "Customers at risk"):
        assert heading in runs.first.stdout, heading
    assert f"report: {runs.report}" in runs.first.stdout.replace("\n", "")


def test_the_summary_counts_silent_journeys_and_says_when_events_were_out_of_order(runs: Runs) -> None:
    # Read after both runs: the second run's summary is of the marts as they are now.
    text = runs.second.stdout
    [(silent, impossible, untyped)] = query(
        runs.url,
        "select (select count(*) from marts.fct_order_journeys where outcome = 'silent'), "
        "(select count(*) from marts.fct_order_journeys where has_impossible_sequence), "
        "(select count(*) from marts.fct_untyped_attributes)",
    )
    assert re.search(rf"│ silent\s+│\s+{silent:,} │", text)  # listed even at zero
    assert "silent: a problem nobody heard about" in text
    assert ("have events in an impossible order" in text or "has events in an impossible order" in text) == (
        impossible > 0
    )
    assert ("could not type" in text) == (untyped > 0)
    [(at_risk,)] = query(runs.url, "select count(*) from marts.dim_customers where is_at_risk")
    if at_risk:
        assert "no check-in since their last journey went badly:" in text


def test_running_twice_adds_the_second_data_set_and_loses_nothing(runs: Runs) -> None:
    assert runs.second.returncode == 0, runs.second.stdout + runs.second.stderr
    loaded = [
        int(n.replace(",", ""))
        for n in re.findall(r"│ ingest\s*│ ([\d,]+) loaded", runs.first.stdout + runs.second.stdout)
    ]
    quarantined = [
        int(n.replace(",", ""))
        for n in re.findall(r"([\d,]+) quarantined", runs.first.stdout + runs.second.stdout)
    ]
    [(rows, distinct)] = query(runs.url, "select count(*), count(distinct event_id) from raw.touchpoints")
    assert rows == distinct == sum(loaded)
    assert query(runs.url, "select count(*) from raw.quarantine") == [(sum(quarantined),)]
    # Every loaded event reached the marts, the second run's too (the marts gate checks it as well).
    assert query(runs.url, "select count(*) from marts.fct_touchpoints") == [(rows,)]
    [(customers,)] = query(runs.url, "select count(*) from marts.dim_customers")
    assert customers >= 150


def test_status_shows_flow_volume_freshness_and_gates(runs: Runs) -> None:
    shown = run_journeys("status", env=runs.env)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    text = shown.stdout
    assert "not reachable (lag unknown)" in text  # the run's embedded broker has stopped
    assert re.search(r"touchpoints\.run-\d{8}T\d{6}\.sales", text)
    [(raw_rows,)] = query(runs.url, "select count(*) from raw.touchpoints")
    assert re.search(rf"raw\.touchpoints\s*│\s*{raw_rows:,}", text)
    assert re.search(r"sales\s*│\s*[\d,]+\s*│\s*[\d.]+ \w+ ago\s*│\s*(ok|warn|error)", text)
    n = MART_EXPECTATIONS
    assert re.search(rf"marts\s*│.*│\s*{n} of {n}\s*│\s*passed", text)
    n = RAW_EXPECTATIONS
    assert re.search(rf"raw\s*│.*│\s*{n} of {n}\s*│\s*passed", text)


def test_report_is_self_contained_and_every_chart_draws_in_chromium(runs: Runs, tmp_path: Path) -> None:
    again = tmp_path / "again.html"
    written = run_journeys("report", "--output", str(again), env=runs.env)
    assert written.returncode == 0, written.stdout + written.stderr
    html = again.read_text()
    assert html.count("<figure data-chart=") == len(FIGURES)
    # Offline: nothing is fetched from anywhere, not even a script.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<script" not in html
    # No raw email or phone reaches the report.
    assert not re.search(r"[\w.+-]+@[\w-]+\.\w+", html)

    page = open_report(runs.report)
    assert page.console_errors == []
    for name in FIGURES:
        assert page.shapes[name] >= 3, f"chart {name} drew {page.shapes[name]} shapes"
        assert page.sizes[name][0] > 100 and page.sizes[name][1] > 50, f"chart {name} has no size"
    assert page.screenshot.stat().st_size > 10_000


def test_run_on_a_broker_that_answers_says_so_and_counts_what_others_published(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    kafka = broker.settings().model_copy(update={"topic_prefix": f"shared{uuid.uuid4().hex[:8]}"})
    env = {
        **os.environ,
        "JOURNEYS_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "JOURNEYS_KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "JOURNEYS_WAREHOUSE_URL": f"duckdb:///{tmp_path}/warehouse.duckdb",
        "JOURNEYS_REPORT_PATH": str(tmp_path / "journeys.html"),
        "JOURNEYS_LOADER_IDLE_SECONDS": "1.0",
    }
    # Someone else's events, already in the topics.
    other = run_journeys("simulate", "--customers", "3", "--days", "5", "--seed", "99", env=env)
    [published] = re.findall(r"published ([\d,]+) records", other.stdout)
    done = run_journeys("run", "--customers", "20", "--days", "10", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    text = " ".join((done.stdout + done.stderr).replace("│", "").split())
    assert f"using the broker at {kafka.bootstrap_servers}, topics {kafka.topic_prefix}.sales" in text
    assert f"({published} of the records read were not this run's)" in text
