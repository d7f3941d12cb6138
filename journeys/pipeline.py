"""Composes the stages into jobs; the CLI and the Airflow DAGs both call these functions."""

from __future__ import annotations

import datetime as dt
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from expectations.results import CheckResult, Stage
from journeys import transform as transform_stage
from journeys.progress import counter_progress
from journeys_core.settings import (
    KafkaSettings,
    LoaderSettings,
    PrivacySettings,
    QualitySettings,
    WarehouseSettings,
)
from streams.broker import EmbeddedBroker, port_is_open
from streams.consume import Loader, LoadStats
from streams.produce import Publisher
from streams.simulator import Simulation, SimulationConfig, write_truth
from streams.sinks import open_sink


@dataclass(frozen=True)
class SimulateResult:
    records: int
    events: int
    duplicates: int
    malformed: int
    seconds: float


@dataclass(frozen=True)
class StageResult:
    name: str
    summary: str
    seconds: float


@dataclass
class RunResult:
    stages: list[StageResult] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    # Why the run stopped early (a gate or dbt failed); None when every stage succeeded.
    problem: str | None = None


def simulation_config(customers: int, days: int, seed: int, start: dt.date | None = None) -> SimulationConfig:
    return SimulationConfig(customers=customers, days=days, seed=seed, start=start)


def simulate(
    kafka: KafkaSettings,
    config: SimulationConfig,
    *,
    truth_path: Path | None = None,
    follow: bool = False,
    rate: float = 200.0,
    console: Console | None = None,
) -> SimulateResult:
    """Publish a simulated data set; with `follow`, paced at `rate` events per second."""
    started = time.monotonic()
    simulation = Simulation(config)
    publisher = Publisher(kafka)
    counts = {"event": 0, "duplicate": 0, "malformed": 0}
    with counter_progress(console or Console(stderr=True), "simulating") as progress:
        for index, record in enumerate(simulation.records(), start=1):
            publisher.publish(record.department, record.key, record.value)
            counts[record.kind] += 1
            if follow:
                time.sleep(max(0.0, started + index / rate - time.monotonic()))
            if index % 10000 == 0:
                progress.show(f"{index:,} records published")
    publisher.close()
    if truth_path is not None:
        write_truth(truth_path, simulation.truth())
    return SimulateResult(
        records=sum(counts.values()),
        events=counts["event"],
        duplicates=counts["duplicate"],
        malformed=counts["malformed"],
        seconds=time.monotonic() - started,
    )


def ingest(
    kafka: KafkaSettings,
    loader_settings: LoaderSettings,
    warehouse: WarehouseSettings,
    *,
    follow: bool = False,
    console: Console | None = None,
) -> LoadStats:
    """Run one loader until caught up (or until SIGTERM with `follow`)."""
    sink = open_sink(warehouse.url, duckdb_memory_limit=loader_settings.duckdb_memory_limit)
    with counter_progress(console or Console(stderr=True), "ingesting") as progress:
        loader = Loader(kafka, loader_settings, sink, on_batch=progress.update_stats)
        previous = signal.signal(signal.SIGTERM, lambda *_: loader.request_stop())
        try:
            return loader.run(follow=follow)
        except KeyboardInterrupt:
            return loader.stats
        finally:
            signal.signal(signal.SIGTERM, previous)


@contextmanager
def reachable_broker(kafka: KafkaSettings, console: Console) -> Iterator[KafkaSettings]:
    """Use the configured broker if it answers, else an embedded one for the duration."""
    first = kafka.bootstrap_servers.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if port_is_open(host, int(port)):
        yield kafka
        return
    with EmbeddedBroker(partitions=kafka.partitions) as broker:
        console.print(
            f"no broker at {kafka.bootstrap_servers}: started an embedded one on {broker.bootstrap_servers}"
        )
        yield broker.settings(kafka)


def check(
    stage: Stage, warehouse: WarehouseSettings, *, quality: QualitySettings | None = None
) -> CheckResult:
    """Run one quality gate, "raw" (what the loader landed) or "marts" (what dbt built).

    The result says whether a critical expectation failed (`passed`); the outcomes are also
    written to quality.expectation_results and to Data Docs.
    """
    from expectations.runner import run_checks  # imported late: GX takes seconds to import

    return run_checks(
        stage,
        warehouse.url,
        settings=quality or QualitySettings(),
        max_future_seconds=LoaderSettings().max_future_seconds,
    )


def _gate_stage(result: RunResult, gate: CheckResult, seconds: float) -> None:
    met = len(gate.outcomes) - len(gate.failures)
    summary = f"{met} of {len(gate.outcomes)} expectations met"
    if gate.critical_failures:
        summary += f", FAILED: {', '.join(o.name for o in gate.critical_failures)}"
    if gate.warnings:
        summary += f", {len(gate.warnings)} warnings"
    result.stages.append(StageResult(f"check {gate.stage}", summary, seconds))
    result.checks.append(gate)


def gated_transform(
    warehouse: WarehouseSettings,
    *,
    privacy: PrivacySettings | None = None,
    quality: QualitySettings | None = None,
    as_of: dt.date | None = None,
    result: RunResult | None = None,
) -> RunResult:
    """check raw -> dbt build -> check marts, stopping at the first failure.

    A failed critical raw expectation means dbt never runs, so bad raw data cannot reach the
    marts; `result.problem` names what failed. `journeys run` and the transform DAG call this.
    """
    result = result if result is not None else RunResult()
    started = time.monotonic()
    raw = check("raw", warehouse, quality=quality)
    _gate_stage(result, raw, time.monotonic() - started)
    if not raw.passed:
        names = ", ".join(o.name for o in raw.critical_failures)
        result.problem = f"the raw gate failed ({names}), so dbt did not run: see `journeys check raw`"
        return result
    # Hook for later stages: the transform stage is looked up at call time, so it can be swapped.
    started = time.monotonic()
    summary = transform_stage.transform(warehouse, privacy or PrivacySettings(), as_of=as_of)
    result.stages.append(StageResult("transform", summary.headline(), time.monotonic() - started))
    if not summary.success:
        result.problem = f"dbt build failed (see `journeys transform`; log {summary.log_path})"
        return result
    started = time.monotonic()
    marts = check("marts", warehouse, quality=quality)
    _gate_stage(result, marts, time.monotonic() - started)
    if not marts.passed:
        names = ", ".join(o.name for o in marts.critical_failures)
        result.problem = f"the marts gate failed ({names}): see `journeys check marts`"
    return result


def run(*, customers: int, days: int, seed: int, console: Console) -> RunResult:
    """The whole job on embedded defaults: simulate, ingest until caught up, then the gated transform."""
    result = RunResult()
    with reachable_broker(KafkaSettings(), console) as kafka:
        started = time.monotonic()
        simulated = simulate(kafka, simulation_config(customers, days, seed), console=console)
        result.stages.append(
            StageResult(
                "simulate",
                f"{simulated.records:,} records ({simulated.malformed:,} malformed, "
                f"{simulated.duplicates:,} duplicates)",
                time.monotonic() - started,
            )
        )
        started = time.monotonic()
        stats = ingest(kafka, LoaderSettings(), WarehouseSettings(), console=console)
        result.stages.append(
            StageResult(
                "ingest",
                f"{stats.loaded:,} loaded, {stats.quarantined:,} quarantined, "
                f"{stats.duplicates:,} duplicates skipped",
                time.monotonic() - started,
            )
        )
    # The broker is stopped by now: check raw -> dbt -> check marts on what was loaded.
    return gated_transform(WarehouseSettings(), result=result)
