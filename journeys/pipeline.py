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

from journeys.progress import counter_progress
from journeys_core.settings import KafkaSettings, LoaderSettings, WarehouseSettings
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


def run(*, customers: int, days: int, seed: int, console: Console) -> RunResult:
    """The whole job on embedded defaults: simulate, then ingest until caught up."""
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
    return result
