"""`dbt build` of the journey marts: a full build on N events, then an incremental one after M more.

    python -m bench.dbt_incremental [--events 1000000] [--new 100000] [--postgres URL] [--repeat N]

The events come from one simulator run (default fault rates, so some arrive weeks late), cut in
arrival order: the first N are loaded and built in full, the next M are loaded and built
incrementally, in the same run. Raw is written with the loader's own DuckDB (or PostgreSQL) sink,
without Kafka: this measures dbt, not ingestion. Both builds are `journeys transform` (dbt build:
models and data tests) in one process that has already imported dbt and parsed the project; the
goal is incremental <= 0.25 x full. A third build with no new events shows the fixed part of an
incremental run. With --repeat, each round starts again from the same loaded raw data (a copy of
the DuckDB file, or a PostgreSQL template database) and the median ratio counts: on a shared
machine one round can be 15 % off.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
from pydantic import SecretStr

from bench.common import machine, say
from journeys.transform import Command, TransformSummary, transform
from journeys_core.settings import PrivacySettings, WarehouseSettings
from journeys_core.warehouse import parse_url
from streams.contract import Touchpoint, decode
from streams.simulator import Simulation, SimulationConfig
from streams.sinks import open_sink
from streams.sinks.base import Batch

START = dt.date(2026, 3, 1)
DAYS = 90
AS_OF = START + dt.timedelta(days=DAYS)
# About 10 valid events per customer in a default 90-day run; ask for a few more customers.
_EVENTS_PER_CUSTOMER = 9.5
_FAR_FUTURE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)  # decode() refuses "future" events otherwise


def valid_events(count: int) -> Iterator[tuple[Touchpoint, str]]:
    """`count` valid touchpoints of one simulated run, in arrival order, with their topic."""
    config = SimulationConfig(
        customers=int(count / _EVENTS_PER_CUSTOMER) + 100, days=DAYS, seed=42, start=START
    )
    seen: set[str] = set()
    produced = 0
    for record in Simulation(config).records():
        event = decode(record.value, now=_FAR_FUTURE)
        if not isinstance(event, Touchpoint) or event.event_id in seen:
            continue  # malformed records and re-deliveries: the loader would not store them either
        seen.add(event.event_id)
        yield event, f"touchpoints.{record.department}"
        produced += 1
        if produced == count:
            return
    raise SystemExit(f"the simulation gave only {produced:,} events; raise _EVENTS_PER_CUSTOMER's margin")


def write(url: str, events: list[tuple[Touchpoint, str]], first_offset: int) -> None:
    sink = open_sink(url)
    try:
        sink.setup()
        for start in range(0, len(events), 50_000):
            batch = Batch()
            for index, (event, topic) in enumerate(
                events[start : start + 50_000], start=first_offset + start
            ):
                batch.add_touchpoint(event, topic, 0, index)
            sink.write(batch, "bench", dt.datetime.now(dt.UTC))
    finally:
        sink.close()


def build(
    url: str, workdir: Path, *, full_refresh: bool, command: Command = "build"
) -> tuple[TransformSummary, float]:
    started = time.perf_counter()
    summary = transform(
        WarehouseSettings(url=url),
        PrivacySettings(pii_key=SecretStr("benchmark-key")),
        command=command,
        full_refresh=full_refresh,
        as_of=AS_OF,
        target_path=workdir / "target",
        log_path=workdir / "logs",
    )
    seconds = time.perf_counter() - started
    if not summary.success:
        for failure in summary.failures:
            say(f"  {failure.status} {failure.node}: {failure.message}")
        raise SystemExit(f"dbt failed: {summary.headline()} (log {summary.log_path})")
    return summary, seconds


def slowest(summary: TransformSummary, count: int = 6) -> str:
    top = sorted(summary.model_seconds.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{name} {seconds:.1f}" for name, seconds in top)


def restorable(url: str, admin_url: str | None) -> Callable[[], None]:
    """Save the warehouse as it is now (raw loaded, nothing built); return what puts it back."""
    path = parse_url(url).path
    if path is not None:  # DuckDB: a copy of the file
        saved = path.with_name("loaded.duckdb")
        shutil.copyfile(path, saved)

        def restore_file() -> None:
            path.with_name(path.name + ".wal").unlink(missing_ok=True)
            shutil.copyfile(saved, path)

        return restore_file
    assert admin_url is not None
    database = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'create database "{database}_loaded" template "{database}"')

    def restore_database() -> None:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'drop database "{database}" with (force)')
            admin.execute(f'create database "{database}" template "{database}_loaded"')

    return restore_database


def one_round(url: str, workdir: Path, new_events: list[tuple[Touchpoint, str]], first_offset: int) -> float:
    """Full build, new events, incremental build, idle build; returns incremental / full."""
    full, full_seconds = build(url, workdir, full_refresh=True)
    say(f"full build: {full_seconds:.1f} s ({full.headline()})")
    say(f"  slowest models (s): {slowest(full)}")

    write(url, new_events, first_offset)
    incremental, incremental_seconds = build(url, workdir, full_refresh=False)
    say(f"incremental build: {incremental_seconds:.1f} s ({incremental.headline()})")
    say(f"  slowest models (s): {slowest(incremental)}")
    ratio = incremental_seconds / full_seconds
    say(f"ratio incremental / full: {ratio:.3f} (goal <= 0.25: {'met' if ratio <= 0.25 else 'missed'})")

    # What an incremental run costs with nothing to do: dbt's own work and the checks of every test.
    idle, idle_seconds = build(url, workdir, full_refresh=False)
    say(f"incremental build with no new events: {idle_seconds:.1f} s ({idle.headline()})")
    say(f"  slowest models (s): {slowest(idle)}")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events of the full build")
    parser.add_argument("--new", type=int, default=100_000, help="events added before the incremental build")
    parser.add_argument(
        "--postgres", metavar="URL", help="a PostgreSQL server to use (a scratch database is created there)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of full, incremental and idle builds, each from the same loaded raw data; "
        "the median ratio counts (default 1)",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-dbt-"))
    database = None
    if args.postgres:
        database = f"journeys_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'create database "{database}"')
        url = f"{args.postgres.rsplit('/', 1)[0]}/{database}"
    else:
        url = f"duckdb:///{workdir}/warehouse.duckdb"
    kind = "PostgreSQL" if database else "DuckDB"
    try:
        say(f"dbt incremental benchmark: {args.events:,} events, then {args.new:,} more, on {kind}")
        say(f"machine: {machine()}")
        started = time.perf_counter()
        events = list(valid_events(args.events + args.new))
        say(f"simulated {len(events):,} events in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        write(url, events[: args.events], 0)
        say(f"loaded {args.events:,} events into raw in {time.perf_counter() - started:.0f} s")
        restore = restorable(url, args.postgres) if args.repeat > 1 else None

        # Both builds start warm, as a user's repeated runs do: dbt imported, the project parsed
        # (a first parse takes 3-4 s and importing dbt 1.5 s, which would flatter the ratio).
        _, warm_up_seconds = build(url, workdir, full_refresh=False, command="parse")
        say(f"warm-up (import dbt, parse the project): {warm_up_seconds:.1f} s, not counted")

        ratios = []
        for round_no in range(1, args.repeat + 1):
            if restore is not None:
                say(f"round {round_no} of {args.repeat}")
                if round_no > 1:
                    restore()
            ratios.append(one_round(url, workdir, events[args.events :], args.events))
        if len(ratios) > 1:
            ratio = statistics.median(ratios)
            each = ", ".join(f"{r:.3f}" for r in ratios)
            verdict = "met" if ratio <= 0.25 else "missed"
            say(f"median ratio of {len(ratios)} rounds: {ratio:.3f} (each: {each}; goal <= 0.25: {verdict})")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if database is not None:
            with psycopg.connect(args.postgres, autocommit=True) as admin:
                admin.execute(f'drop database if exists "{database}" with (force)')
                admin.execute(f'drop database if exists "{database}_loaded" with (force)')


if __name__ == "__main__":
    main()
