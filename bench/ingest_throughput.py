"""Loader throughput against a bare Kafka consumer, on the same broker and data, in one run.

    python -m bench.ingest_throughput [--events 200000] [--rounds 3] [--profile [FILE]]

Starts an embedded Tansu broker, publishes N clean events (simulator, fault rates 0), then
alternates two consumers over the same N records, each in a fresh consumer group:

- baseline: a kafka-python KafkaConsumer with the loader's fetch settings that only polls and
  counts records until it has seen all N;
- loader: `streams.consume.Loader` (contract validation, Arrow batches, DuckDB transactions
  with offsets) into a fresh DuckDB file, until caught up.

Throughput leaves out the group join (Tansu holds a join for about half the session timeout)
and the loader's idle detection: it is records handled after the first delivery divided by the
time from that delivery to the last one (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer

from bench.common import machine, median, publish_clean, say
from journeys_core.settings import KafkaSettings, LoaderSettings
from streams.broker import EmbeddedBroker
from streams.consume import Loader, LoadStats, consumer_options
from streams.sinks import open_sink
from streams.topics import department_topics

GOAL_RATIO = 0.8
_STEADY_BATCHES = 5  # committed batches a pass needs before its rate says anything
_BASELINE_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Sample:
    """One timed pass over the N records."""

    side: str
    records: int  # records handled after the first delivery: the numerator of the rate
    window_s: float  # first delivery -> last record seen (baseline) or last batch committed (loader)
    startup_s: float  # start -> first delivery: group join, assignment, first fetch (excluded)
    tail_s: float  # last delivery -> return: close, idle detection (excluded)
    total: int  # every record the pass saw
    deliveries: int  # polls with records (baseline) or committed batches (loader)

    @property
    def rate(self) -> float:
        return self.records / self.window_s if self.window_s > 0 else 0.0

    @property
    def wall_rate(self) -> float:
        wall = self.startup_s + self.window_s + self.tail_s
        return self.total / wall if wall > 0 else 0.0


def run_baseline(
    kafka: KafkaSettings, settings: LoaderSettings, expected: int, profiler: cProfile.Profile | None = None
) -> Sample:
    consumer = KafkaConsumer(**consumer_options(kafka, settings))
    started = time.perf_counter()
    consumer.subscribe(department_topics(kafka))
    if profiler is not None:
        profiler.enable()
    seen = deliveries = first_count = 0
    first_at = 0.0
    try:
        while seen < expected:
            records = consumer.poll(timeout_ms=200)
            count = sum(len(messages) for messages in records.values())
            if not count:
                if time.perf_counter() - started > _BASELINE_TIMEOUT_S:
                    say(f"  baseline gave up after {_BASELINE_TIMEOUT_S:.0f} s at {seen:,} records")
                    break
                continue
            if not deliveries:
                first_at, first_count = time.perf_counter(), count
            deliveries += 1
            seen += count
        last_at = time.perf_counter()
    finally:
        if profiler is not None:
            profiler.disable()
        consumer.close(autocommit=False)
    return Sample(
        side="baseline",
        records=seen - first_count,
        window_s=last_at - first_at,
        startup_s=first_at - started,
        tail_s=time.perf_counter() - last_at,
        total=seen,
        deliveries=deliveries,
    )


def run_loader(
    kafka: KafkaSettings, settings: LoaderSettings, warehouse: Path, profiler: cProfile.Profile | None = None
) -> tuple[Sample, LoadStats]:
    marks: list[tuple[float, int]] = []

    def on_batch(stats: LoadStats) -> None:
        marks.append((time.perf_counter(), stats.consumed))

    loader = Loader(
        kafka,
        settings,
        open_sink(f"duckdb:///{warehouse}", duckdb_memory_limit=settings.duckdb_memory_limit),
        on_batch=on_batch,
    )
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    try:
        stats = loader.run()
    finally:
        if profiler is not None:
            profiler.disable()
    finished = time.perf_counter()
    if not marks:
        return Sample("loader", 0, 0.0, finished - started, 0.0, stats.consumed, 0), stats
    (first_at, first_count), (last_at, last_count) = marks[0], marks[-1]
    return (
        Sample(
            side="loader",
            records=last_count - first_count,
            window_s=last_at - first_at,
            startup_s=first_at - started,
            tail_s=finished - last_at,
            total=stats.consumed,
            deliveries=len(marks),
        ),
        stats,
    )


def describe(sample: Sample, round_no: int) -> str:
    return (
        f"  round {round_no} {sample.side:<8} {sample.rate:>9,.0f} events/s  ({sample.records:,} records "
        f"in {sample.window_s:.2f} s after the first of {sample.deliveries} deliveries; excluded "
        f"{sample.startup_s:.2f} s start + {sample.tail_s:.2f} s tail; wall {sample.wall_rate:,.0f}/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000, help="events to publish (default 200000)")
    parser.add_argument("--rounds", type=int, default=3, help="passes per side, alternating (default 3)")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="",
        metavar="FILE",
        help="after the timed rounds, run each side once more under cProfile, print the top "
        "functions and save the stats to FILE.baseline and FILE.loader if given (not timed)",
    )
    args = parser.parse_args()
    rounds = max(1, args.rounds)

    say(f"ingest throughput: {args.events:,} events, {rounds} rounds per side")
    say(f"machine: {machine()}")
    settings = LoaderSettings().model_copy(update={"idle_seconds": 0.5})
    say(
        f"loader settings: batch_max_records={settings.batch_max_records}, batch_max_bytes="
        f"{settings.batch_max_bytes}, batch_max_seconds={settings.batch_max_seconds}, idle_seconds="
        f"{settings.idle_seconds} (idle time is excluded)"
    )
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory(prefix="journeys-bench-") as scratch:
        base = broker.settings(KafkaSettings())
        say(f"broker: Tansu on {broker.bootstrap_servers}, {broker.partitions} partitions per topic")
        published = publish_clean(base, args.events)
        say(
            f"published {published.records:,} events in {published.seconds:.1f} s "
            f"({published.rate:,.0f} events/s, Publisher acks=all, idempotent)"
        )
        baselines: list[Sample] = []
        loaders: list[Sample] = []
        for round_no in range(1, rounds + 1):
            kafka = base.model_copy(update={"consumer_group": f"bench-baseline-{round_no}"})
            baselines.append(run_baseline(kafka, settings, published.records))
            say(describe(baselines[-1], round_no))
            kafka = base.model_copy(update={"consumer_group": f"bench-loader-{round_no}"})
            sample, stats = run_loader(kafka, settings, Path(scratch) / f"loader-{round_no}.duckdb")
            loaders.append(sample)
            say(describe(sample, round_no))
            if stats.loaded != published.records or stats.quarantined:
                say(
                    f"  note: the loader loaded {stats.loaded:,} and quarantined {stats.quarantined:,} "
                    f"of {published.records:,} records"
                )

        batches = min(s.deliveries for s in loaders)
        if batches < _STEADY_BATCHES:
            say(
                f"note: a loader pass committed only {batches} batch(es); the rates count what follows the "
                f"first delivery, so they mean little below {_STEADY_BATCHES * settings.batch_max_records:,} "
                "events (raise --events)"
            )
        base_median, load_median = median([s.rate for s in baselines]), median([s.rate for s in loaders])
        base_best, load_best = max(s.rate for s in baselines), max(s.rate for s in loaders)
        ratio = load_median / base_median if base_median else 0.0
        say()
        say(f"{'':<10}{'median':>12}{'best':>12}  (events/s, {rounds} rounds)")
        say(f"{'baseline':<10}{base_median:>12,.0f}{base_best:>12,.0f}")
        say(f"{'loader':<10}{load_median:>12,.0f}{load_best:>12,.0f}")
        say(
            f"ratio loader/baseline: {ratio:.2f} (median), "
            f"{load_best / base_best if base_best else 0.0:.2f} (best); goal >= {GOAL_RATIO} -> "
            f"{'met' if ratio >= GOAL_RATIO else 'missed'}"
        )

        if args.profile is not None:
            profile(base, settings, published.records, Path(scratch), args.profile)


def profile(base: KafkaSettings, settings: LoaderSettings, expected: int, scratch: Path, path: str) -> None:
    """One more pass per side under cProfile (not timed: the profiler slows Python code down)."""
    for side in ("baseline", "loader"):
        profiler = cProfile.Profile()
        kafka = base.model_copy(update={"consumer_group": f"bench-{side}-profile"})
        if side == "baseline":
            sample = run_baseline(kafka, settings, expected, profiler)
        else:
            sample, _ = run_loader(kafka, settings, scratch / "loader-profile.duckdb", profiler)
        say()
        say(f"profiled {side} pass (cProfile overhead included): {sample.rate:,.0f} events/s")
        view = pstats.Stats(profiler)
        if path:
            view.dump_stats(f"{path}.{side}")
            say(f"profile saved to {path}.{side}")
        view.sort_stats("tottime").print_stats(20)
        view.sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
