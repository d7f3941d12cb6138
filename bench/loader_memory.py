"""Peak memory of a loader process loading N events into DuckDB, sampled over the whole load.

    python -m bench.loader_memory [--events 1000000] [--interval 0.2]

Starts an embedded Tansu broker, publishes N clean events from this process, then runs
`python -m journeys ingest` as a child process (DuckDB warehouse in a scratch folder) and reads
its /proc/<pid>/status every `--interval` seconds: VmRSS (resident now) and VmHWM (the kernel's
own peak, so nothing between two samples is missed). Progress comes from the offsets the loader
mirrors into Kafka after each committed batch, read once a second with an admin client; RSS is
reported when the committed count first reaches 25/50/75/100 % of N.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from bench.common import ROOT, machine, proc_status_mb, publish_clean, say
from journeys_core.settings import KafkaSettings
from streams.broker import EmbeddedBroker
from streams.kafka_config import client_options
from streams.topics import department_topics

GOAL_MB = 400.0
_QUARTILES = (0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class Reading:
    at: float  # seconds since the loader started
    rss_mb: float
    hwm_mb: float
    committed: int  # records the loader had committed (mirrored offsets) at that time


def committed_records(admin: KafkaAdminClient, kafka: KafkaSettings) -> int | None:
    """Sum of the department-topic offsets the loader group has committed to Kafka."""
    try:
        offsets = admin.list_group_offsets({kafka.consumer_group: None}).get(kafka.consumer_group, {})
    except KafkaError:
        return None
    topics = set(department_topics(kafka))
    return sum(int(meta.offset) for tp, meta in offsets.items() if tp.topic in topics and meta.offset > 0)


def loader_env(kafka: KafkaSettings, url: str) -> dict[str, str]:
    """Environment for a `journeys ingest` child pointed at the bench broker and warehouse."""
    return {
        **os.environ,
        "JOURNEYS_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "JOURNEYS_KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "JOURNEYS_KAFKA_CONSUMER_GROUP": kafka.consumer_group,
        "JOURNEYS_WAREHOUSE_URL": url,
        "JOURNEYS_LOADER_IDLE_SECONDS": "1.0",
    }


def sample_loader(
    process: subprocess.Popen[str], admin: KafkaAdminClient, kafka: KafkaSettings, interval: float
) -> list[Reading]:
    readings: list[Reading] = []
    started = time.perf_counter()
    committed, next_progress = 0, 0.0
    while process.poll() is None:
        now = time.perf_counter() - started
        if now >= next_progress:
            committed = committed_records(admin, kafka) or committed
            next_progress = now + 1.0
        rss = proc_status_mb(process.pid, "VmRSS")
        hwm = proc_status_mb(process.pid, "VmHWM")
        if rss is not None and hwm is not None:
            readings.append(Reading(now, rss, hwm, committed))
        time.sleep(interval)
    return readings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events to load (default 1000000)")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between RSS samples (0.2)")
    args = parser.parse_args()

    say(f"loader memory: {args.events:,} events, RSS sampled every {args.interval} s")
    say(f"machine: {machine()}")
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory(prefix="journeys-bench-") as scratch:
        kafka = broker.settings(KafkaSettings()).model_copy(update={"consumer_group": "bench-memory"})
        say(f"broker: Tansu on {broker.bootstrap_servers}, {broker.partitions} partitions per topic")
        published = publish_clean(kafka, args.events, report_every=250_000)
        producer_peak = proc_status_mb("self", "VmHWM") or 0.0
        broker_rss = proc_status_mb(broker.process.pid, "VmRSS") if broker.process else None
        say(
            f"published {published.records:,} events in {published.seconds:.1f} s "
            f"({published.rate:,.0f} events/s); producing process (simulator + Publisher) peak RSS "
            f"{producer_peak:,.0f} MB; broker RSS now {broker_rss or 0:,.0f} MB (holds the data in memory)"
        )

        warehouse = Path(scratch) / "memory.duckdb"
        admin = KafkaAdminClient(**client_options(kafka))
        process = subprocess.Popen(
            [sys.executable, "-m", "journeys", "ingest"],
            env=loader_env(kafka, f"duckdb:///{warehouse}"),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            readings = sample_loader(process, admin, kafka, args.interval)
            stdout, stderr = process.communicate()
        finally:
            if process.poll() is None:
                process.kill()
            admin.close()
        say(f"loader exited {process.returncode} after {readings[-1].at if readings else 0:.1f} s")
        say(f"  loader said: {' '.join(stdout.split())}")
        if process.returncode:
            say(f"  loader stderr: {stderr.strip()[-2000:]}")
        if not readings:
            say("no readings: the loader exited before the first sample")
            return
        report(readings, args.events)


def report(readings: list[Reading], events: int) -> None:
    peak_hwm = max(r.hwm_mb for r in readings)
    peak_rss = max(r.rss_mb for r in readings)
    say()
    say(f"samples: {len(readings)} over {readings[-1].at:.1f} s")
    say(f"{'progress':>9} {'at s':>7} {'committed':>11} {'RSS MB':>8} {'peak so far MB':>15}")
    first_data = next((r for r in readings if r.committed > 0), None)
    if first_data is not None:
        say(
            f"{'first':>9} {first_data.at:>7.1f} {first_data.committed:>11,} {first_data.rss_mb:>8.0f} "
            f"{first_data.hwm_mb:>15.0f}"
        )
    for share in _QUARTILES:
        target = share * events
        reading = next((r for r in readings if r.committed >= target), None)
        if reading is None:  # the last batch can be committed after the final progress read
            reading = readings[-1]
        say(
            f"{share:>9.0%} {reading.at:>7.1f} {reading.committed:>11,} {reading.rss_mb:>8.0f} "
            f"{reading.hwm_mb:>15.0f}"
        )
    say("elapsed-time quartiles of the loader's life (including start-up and idle tail):")
    end = readings[-1].at
    for share in _QUARTILES:
        reading = next(r for r in readings if r.at >= share * end)
        say(f"{share:>9.0%} {reading.at:>7.1f} {reading.committed:>11,} {reading.rss_mb:>8.0f}")
    quarter = next((r for r in readings if r.committed >= 0.25 * events), readings[-1])
    say(
        f"growth from 25 % to the end: {readings[-1].hwm_mb - quarter.hwm_mb:+.0f} MB peak, "
        f"{readings[-1].rss_mb - quarter.rss_mb:+.0f} MB resident"
    )
    say()
    verdict = "met" if peak_hwm < GOAL_MB else "missed"
    say(
        f"peak RSS: {peak_hwm:,.0f} MB (VmHWM; highest sampled VmRSS {peak_rss:,.0f} MB); "
        f"goal < {GOAL_MB:.0f} MB -> {verdict}"
    )


if __name__ == "__main__":
    main()
