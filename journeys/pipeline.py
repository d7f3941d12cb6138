"""Composes the stages into jobs; the CLI and the Airflow DAGs both call these functions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from expectations.results import CheckResult, Stage
from journeys import report as report_page
from journeys import transform as transform_stage
from journeys.insights import Insights, read_insights
from journeys.progress import counter_progress
from journeys_core.privacy import refuse_development_key
from journeys_core.settings import (
    BusinessSettings,
    KafkaSettings,
    LoaderSettings,
    PrivacySettings,
    QualitySettings,
    ReportSettings,
    WarehouseSettings,
)
from journeys_core.warehouse import parse_url, read_queries
from streams.broker import EmbeddedBroker, port_is_open
from streams.consume import Loader, LoadStats
from streams.produce import Publisher
from streams.simulator import Simulation, SimulationConfig, write_truth
from streams.sinks import open_sink
from streams.topics import department_topics, ensure_topics


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a job in `stage`; the message says what it had done and what is kept.

    Still a KeyboardInterrupt, so callers that do not know it stop as they would on Ctrl-C.
    """

    def __init__(self, stage: str, done: str) -> None:
        super().__init__(done)
        self.stage = stage
        self.done = done


@contextmanager
def _stage(name: str, kept: str) -> Iterator[None]:
    """Name the stage Ctrl-C stopped; `kept` says what is left, unless the stage said it itself."""
    try:
        yield
    except Interrupted:
        raise
    except KeyboardInterrupt as interrupt:
        raise Interrupted(name, str(interrupt) or kept) from interrupt


# What an interrupted stage leaves behind.
_NOTHING_DONE = "nothing was published or loaded"
_LOADED_KEPT = "everything loaded is kept: `journeys transform` builds the marts from it"
_UNCHECKED_KEPT = "everything loaded is kept: `journeys check raw`, then `journeys transform`, go on from it"
_MARTS_KEPT = "the marts are built: `journeys check marts` and `journeys report` go on from them"


@contextmanager
def _first_ctrl_c_sets(stop: threading.Event, *, enabled: bool) -> Iterator[None]:
    """The first Ctrl-C only sets `stop`, checked between records, so none is left half-sent.

    A second one interrupts as usual. Signal handlers belong to the main thread, and a Ctrl-C the
    shell told this process to ignore stays ignored.
    """
    main_thread = threading.current_thread() is threading.main_thread()
    if not enabled or not main_thread or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def first(*_: object) -> None:
        stop.set()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


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
    """Publish a simulated data set.

    With `follow` it is a live feed: records are paced at `rate` per second and, when a data set
    ends, the next epoch begins (new customers, whose history ends now) until Ctrl-C or SIGTERM.
    Epochs never share a customer, email, phone, order or ticket. Without it, Ctrl-C raises
    Interrupted, saying how many records the broker acknowledged; no ground truth is written then.
    """
    if follow and truth_path is not None:
        raise ValueError("a live feed (--follow) has no final ground truth: drop --truth or --follow")
    started = time.monotonic()
    publisher = Publisher(kafka)
    counts = {"event": 0, "duplicate": 0, "malformed": 0}
    published = 0
    simulation = Simulation(config)
    stop = threading.Event()
    interrupted = False
    try:
        with (
            counter_progress(console or Console(stderr=True), "simulating") as progress,
            _first_ctrl_c_sets(stop, enabled=not follow),
        ):
            for epoch in itertools.count():
                if epoch:
                    # The next data set's window ends today, as the first one's does by default.
                    simulation = Simulation(dataclasses.replace(config, epoch=epoch, start=None))
                for record in simulation.records():
                    if stop.is_set():
                        break
                    publisher.publish(record.department, record.key, record.value)
                    counts[record.kind] += 1
                    published += 1
                    if follow:
                        time.sleep(max(0.0, started + published / rate - time.monotonic()))
                    if published % 10000 == 0 or (follow and published % max(1, int(rate)) == 0):
                        progress.show(f"{published:,} records published (data set {epoch + 1})")
                if not follow:
                    break
    except KeyboardInterrupt:
        interrupted = True  # how a live feed ends (or a second Ctrl-C)
    except BaseException:
        publisher.close_interrupted()
        raise
    # Out of the first-Ctrl-C handler: a Ctrl-C during the final flush interrupts it.
    cut_short = not follow and (interrupted or stop.is_set())
    try:
        if cut_short:
            publisher.close_interrupted()  # bounded: the same Ctrl-C may have stopped the broker
        else:
            publisher.close()  # a live feed's normal end too: everything sent is flushed
    except KeyboardInterrupt:
        cut_short = not follow
        publisher.close_interrupted(timeout_s=0)
        if follow:
            raise
    if cut_short:
        # A data set cut short: its truth would describe records never published, so none is written.
        done = f"{publisher.acknowledged:,} records acknowledged by the broker"
        if truth_path is not None:
            done += f"; no ground truth written to {truth_path} (it would describe records never published)"
        raise Interrupted("simulate", done)
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
    max_seconds: float | None = None,
    console: Console | None = None,
    privacy: PrivacySettings | None = None,
) -> LoadStats:
    """Run one loader until caught up (or until SIGTERM with `follow`).

    `max_seconds` bounds the run (the ingest DAG's drain): then the current batch is committed and
    the loader returns, whether or not it caught up.
    """
    refuse_development_key(parse_url(warehouse.url), privacy or PrivacySettings(), "ingest")
    sink = open_sink(warehouse.url, duckdb_memory_limit=loader_settings.duckdb_memory_limit)
    with counter_progress(console or Console(stderr=True), "ingesting") as progress:
        loader = Loader(kafka, loader_settings, sink, on_batch=progress.update_stats)
        # Signal handlers can only be set from the main thread (Airflow may run tasks elsewhere).
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, lambda *_: loader.request_stop()) if main_thread else None
        timer = threading.Timer(max_seconds, loader.request_stop) if max_seconds is not None else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            return loader.run(follow=follow)
        except KeyboardInterrupt:
            return loader.stats  # Ctrl-C is how a loader stops: the totals count every batch committed
        finally:
            if timer is not None:
                timer.cancel()
            if main_thread:
                signal.signal(signal.SIGTERM, previous)


def raw_watermark(warehouse: WarehouseSettings) -> str | None:
    """What raw.touchpoints holds, as a mark that changes whenever rows land; None while it is empty.

    The ingest DAG announces new raw data by it, so rows a `journeys ingest --follow` loader (or a
    quarantine replay) landed between two drains also start journey_transform. The row count is
    in it because raw only grows: a batch stamped before an announcement but committed after it
    has an older loaded_at, yet still changes the count.
    """
    query = {"last": "select count(*) as rows_loaded, max(loaded_at) as last_loaded from raw.touchpoints"}
    rows = read_queries(warehouse.url, query, missing_ok=True)["last"]
    if not rows or not rows[0]["rows_loaded"]:
        return None
    return f"{rows[0]['rows_loaded']} rows, last loaded at {rows[0]['last_loaded']}"


@contextmanager
def reachable_broker(kafka: KafkaSettings, console: Console) -> Iterator[KafkaSettings]:
    """Use the configured broker if it answers, else an embedded one for the duration."""
    first = kafka.bootstrap_servers.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if port_is_open(host, int(port)):
        # Said, because a broker someone else started may hold other events under these names.
        console.print(
            f"using the broker at {kafka.bootstrap_servers}, topics {', '.join(department_topics(kafka))}: "
            "whatever they hold that this warehouse has not loaded yet is loaded too"
        )
        yield kafka
        return
    broker = EmbeddedBroker(partitions=kafka.partitions)
    try:  # not `with`: a Ctrl-C while it starts must stop it too
        with _stage("the broker's start", _NOTHING_DONE):
            broker.start()
            console.print(
                f"no broker at {kafka.bootstrap_servers}: "
                f"started an embedded one on {broker.bootstrap_servers}"
            )
            # A new embedded broker starts every topic at offset 0, but the warehouse remembers offsets
            # (loader) and staged positions (dbt) of earlier runs: topics of its own never collide.
            started = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
            settings = broker.settings(kafka).model_copy(
                update={"topic_prefix": f"{kafka.topic_prefix}.run-{started}"}
            )
            ensure_topics(settings)
        yield settings
    finally:
        broker.stop()


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
    console: Console | None = None,
) -> RunResult:
    """check raw -> dbt build -> check marts, stopping at the first failure.

    A failed critical raw expectation means dbt never runs, so bad raw data cannot reach the
    marts; `result.problem` names what failed. `journeys run` and the transform DAG call this.
    """
    result = result if result is not None else RunResult()
    console = console or Console(stderr=True)
    started = time.monotonic()
    with _stage("check raw", _UNCHECKED_KEPT), counter_progress(console, "check raw"):
        raw = check("raw", warehouse, quality=quality)
    _gate_stage(result, raw, time.monotonic() - started)
    if not raw.passed:
        names = ", ".join(o.name for o in raw.critical_failures)
        result.problem = f"the raw gate failed ({names}), so dbt did not run: see `journeys check raw`"
        return result
    # Hook for later stages: the transform stage is looked up at call time, so it can be swapped.
    started = time.monotonic()
    with _stage("transform", _LOADED_KEPT), counter_progress(console, "dbt build"):
        summary = transform_stage.transform(warehouse, privacy or PrivacySettings(), as_of=as_of)
    result.stages.append(StageResult("transform", summary.headline(), time.monotonic() - started))
    if not summary.success:
        result.problem = f"dbt build failed (see `journeys transform`; log {summary.log_path})"
        return result
    started = time.monotonic()
    with _stage("check marts", _MARTS_KEPT), counter_progress(console, "check marts"):
        marts = check("marts", warehouse, quality=quality)
    _gate_stage(result, marts, time.monotonic() - started)
    if not marts.passed:
        names = ", ".join(o.name for o in marts.critical_failures)
        result.problem = f"the marts gate failed ({names}): see `journeys check marts`"
    return result


def write_report(warehouse: WarehouseSettings, path: Path | None = None) -> Path:
    """Write the HTML journey report from the marts; returns where it went."""
    return _report(warehouse, path)[1]


def _report(warehouse: WarehouseSettings, path: Path | None) -> tuple[Insights, Path]:
    insights = read_insights(warehouse.url)
    written = report_page.write_report(
        insights, path or ReportSettings().path, source=parse_url(warehouse.url).redacted()
    )
    return insights, written


@dataclass
class JourneysRun(RunResult):
    """A whole `journeys run`: its stages, and what the marts say when they were built."""

    insights: Insights | None = None
    report_path: Path | None = None
    # The report could not be written at the end; the stages above it are done.
    report_error: str | None = None


def preflight(warehouse: WarehouseSettings, privacy: PrivacySettings, report_path: Path) -> None:
    """What `journeys run` checks before it publishes anything: a mistake then leaves no records behind.

    The PII key the warehouse accepts, the warehouse itself (reached, or created, with the raw schema
    the loader would make first), the business's time zone the marts were judged in, and the
    report's folder. Each failure is one sentence.
    """
    refuse_development_key(parse_url(warehouse.url), privacy, "run")
    sink = open_sink(warehouse.url)
    try:
        sink.setup()
    finally:
        sink.close()
    transform_stage.check_business_timezone(warehouse.url, BusinessSettings())
    report_page.check_writable(report_path)


def run(
    *,
    customers: int,
    days: int,
    seed: int,
    console: Console,
    warehouse: WarehouseSettings | None = None,
    report_path: Path | None = None,
    privacy: PrivacySettings | None = None,
) -> JourneysRun:
    """The whole job on embedded defaults: simulate, ingest, the gated transform, then the report.

    Checks first what would make it fail late (`preflight`). Ctrl-C in any stage raises
    Interrupted, naming the stage and what is kept, after stopping the broker it started.
    """
    warehouse = warehouse or WarehouseSettings()
    privacy = privacy or PrivacySettings()
    report_path = report_path or ReportSettings().path
    with _stage("pre-flight", _NOTHING_DONE):
        preflight(warehouse, privacy, report_path)
    result = JourneysRun()
    with reachable_broker(KafkaSettings(), console) as kafka:
        started = time.monotonic()
        with _stage("simulate", "none of it was loaded"):
            try:
                simulated = simulate(kafka, simulation_config(customers, days, seed), console=console)
            except Interrupted as interrupt:
                raise Interrupted("simulate", f"{interrupt.done}, none loaded") from interrupt
        result.stages.append(
            StageResult(
                "simulate",
                f"{simulated.records:,} records ({simulated.malformed:,} malformed, "
                f"{simulated.duplicates:,} duplicates)",
                time.monotonic() - started,
            )
        )
        started = time.monotonic()
        with _stage("ingest", "what was committed is kept, each event once: running it again loads the rest"):
            stats = ingest(kafka, LoaderSettings(), warehouse, console=console, privacy=privacy)
        loaded = (
            f"{stats.loaded:,} loaded, {stats.quarantined:,} quarantined{stats.quarantine_note()}, "
            f"{stats.duplicates:,} duplicates skipped"
        )
        if stats.interrupted:
            raise Interrupted(
                "ingest",
                f"{stats.committed:,} records committed to the warehouse, each once ({loaded}); "
                "nothing committed is lost, and running it again loads the rest",
            )
        if stats.committed > simulated.records:  # a shared broker's topics held records of others
            loaded += f" ({stats.committed - simulated.records:,} of the records read were not this run's)"
        result.stages.append(StageResult("ingest", loaded, time.monotonic() - started))
    # The broker is stopped by now: check raw -> dbt -> check marts on what was loaded.
    gated_transform(warehouse, privacy=privacy, result=result, console=console)
    if result.problem is None:
        started = time.monotonic()
        try:
            with _stage("report", _MARTS_KEPT):
                result.insights, result.report_path = _report(warehouse, report_path)
        except report_page.ReportError as error:
            result.report_error = str(error)
            result.stages.append(StageResult("report", "not written", time.monotonic() - started))
            return result
        result.stages.append(StageResult("report", str(result.report_path), time.monotonic() - started))
    return result
