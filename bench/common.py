"""What the benchmarks share: clean events to publish, process memory, and a machine description."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from journeys_core.settings import KafkaSettings
from streams.produce import Publisher
from streams.simulator import Simulation, SimulationConfig

ROOT = Path(__file__).resolve().parents[1]

# The default 90-day simulation yields about 10.3 records per customer; asking for a little more
# than needed and cutting the stream at N keeps one run (one seed) for any N.
_RECORDS_PER_CUSTOMER = 9


def clean_events(count: int, *, seed: int = 42, days: int = 90) -> Iterator[tuple[str, bytes, bytes]]:
    """`count` valid events as (department, key, value), from the simulator with every fault off.

    Events come in publish order; when one run is too short, the next seed continues the stream
    (event ids are drawn from the seeded RNG, so they do not repeat across seeds).
    """
    customers = max(100, -(-count // _RECORDS_PER_CUSTOMER))
    produced = 0
    while produced < count:
        config = SimulationConfig(customers=customers, days=days, seed=seed).clean()
        for record in Simulation(config).records():
            yield record.department, record.key, record.value
            produced += 1
            if produced == count:
                return
        seed += 1


@dataclass(frozen=True)
class Published:
    records: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def publish_clean(kafka: KafkaSettings, count: int, *, report_every: int = 0) -> Published:
    """Publish `count` clean events with the project's Publisher and wait for every ack."""
    started = time.perf_counter()
    publisher = Publisher(kafka)
    for index, (department, key, value) in enumerate(clean_events(count), start=1):
        publisher.publish(department, key, value)
        if report_every and index % report_every == 0:
            say(f"  ... {index:,} published ({time.perf_counter() - started:.0f} s)")
    sent = publisher.close(timeout_s=900.0)
    return Published(sent, time.perf_counter() - started)


def proc_status_mb(pid: int | str, field: str) -> float | None:
    """A memory line of /proc/<pid>/status (VmRSS, VmHWM, ...) in MB; None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def machine() -> str:
    """One line that says when and where a figure was taken, for the results table."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores ({_cpu_model()}); "
        f"load average {load}; Python {platform.python_version()}; kafka-python "
        f"{_version('kafka-python')}; duckdb {_version('duckdb')}"
    )
