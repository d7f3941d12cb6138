"""The `journeys` command line: every stage of the pipeline, one command each."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from dotenv import dotenv_values
from rich.console import Console, Group
from rich.logging import RichHandler
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from expectations.results import CheckResult, ExpectationOutcome, Stage
from journeys import pipeline
from journeys import status as status_view
from journeys.errors import describe
from journeys.events_cli import events_app
from journeys.quarantine_cli import quarantine_app
from journeys.roles_cli import roles
from journeys.summary import run_summary
from journeys.transform import transform as run_dbt
from journeys_core.settings import (
    KafkaSettings,
    LoaderSettings,
    PrivacySettings,
    QualitySettings,
    WarehouseSettings,
    misspelt_variables,
)
from streams.broker import EmbeddedBroker
from streams.consume import LoadStats
from streams.produce import produce_file

app = typer.Typer(
    name="journeys",
    help=(
        "Customer journeys across sales, shipping and support: Kafka -> warehouse exactly once.\n\n"
        "Configuration comes from JOURNEYS_* environment variables (see .env.example).\n\n"
        "Quick start: `journeys run` does the whole job on embedded defaults."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
console = Console(stderr=True)
out = Console()
app.add_typer(quarantine_app)
app.add_typer(events_app)
app.command()(roles)


@app.callback()
def _setup(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens inside.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    if not verbose:
        logging.getLogger("kafka").setLevel(logging.CRITICAL)  # our own messages say what failed
    # .env too: the settings read it, and skip the names they do not know just as silently.
    dotenv_names = dotenv_values(".env") if Path(".env").is_file() else {}
    for name, meant in misspelt_variables({**dict.fromkeys(dotenv_names, ""), **os.environ}):
        console.print(f"[yellow]warning:[/] {name} is not a setting (ignored): did you mean {meant}?")


def _sigterm_is_ctrl_c() -> None:
    """Long-running commands stop on SIGTERM (docker stop, systemd) exactly as on Ctrl-C."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


@contextmanager
def _exit_on_interrupt(command: str) -> Iterator[None]:
    """Ctrl-C: one line on where it stopped and what is kept, then exit 130 as shells expect."""
    try:
        yield
    except KeyboardInterrupt as interrupt:
        stage = interrupt.stage if isinstance(interrupt, pipeline.Interrupted) else command
        where = f" during {stage}" if stage != command else ""
        what = f": {escape(str(interrupt))}" if str(interrupt) else ""
        console.print(f"[bold yellow]interrupted:[/] journeys {command} stopped{where}{what}")
        raise typer.Exit(130) from None


@app.command()
def broker(
    port: Annotated[int, typer.Option(help="Loopback port to listen on.")] = 9092,
    partitions: Annotated[
        int | None,
        typer.Option(help="Partitions per new topic.", show_default="JOURNEYS_KAFKA_PARTITIONS"),
    ] = None,
) -> None:
    """Run the embedded Kafka-protocol broker (Tansu, memory only) until interrupted.

    Creates the topics touchpoints.sales, .shipping, .support and .dlq. Data lives in memory:
    stopping the broker forgets it.
    """
    count = partitions or KafkaSettings().partitions
    embedded = EmbeddedBroker(port=port, partitions=count).start()
    console.print(
        f"[green]broker ready[/] on [bold]{embedded.bootstrap_servers}[/] "
        f"({count} partitions per topic); Ctrl-C stops it"
    )
    _sigterm_is_ctrl_c()
    try:
        while embedded.process is not None and embedded.process.poll() is None:
            time.sleep(0.5)
        console.print(
            f"[red]the broker exited[/] with code {embedded.process and embedded.process.returncode}"
        )
        raise typer.Exit(1)
    except KeyboardInterrupt:
        console.print("stopping the broker")
    finally:
        embedded.stop()


@app.command()
def simulate(
    customers: Annotated[int, typer.Option(min=1, help="How many customers.")] = 2000,
    days: Annotated[int, typer.Option(min=1, help="How many days of history, ending today.")] = 90,
    seed: Annotated[int, typer.Option(help="Same seed, same events.")] = 42,
    start: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="First day.", show_default="DAYS ago"),
    ] = None,
    truth: Annotated[
        Path | None, typer.Option(help="Write the true customer and outcome of everything here.")
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(help="A live feed: paced by --rate, data set after data set, until Ctrl-C or SIGTERM."),
    ] = False,
    rate: Annotated[float, typer.Option(min=0.1, help="Records per second with --follow.")] = 200.0,
) -> None:
    """Publish realistic, seeded journeys for all three departments.

    Faults are injected on purpose (duplicates, late and out-of-order arrival, malformed records)
    so the loader's quarantine and exactly-once handling have something to do. With --follow, when
    a data set ends the next begins: new customers (never sharing an id, email, phone, order or
    ticket with earlier ones) whose history ends now, so the loader always has work.
    Without --follow, Ctrl-C stops it with exit 130, saying how many records the broker acknowledged,
    and writes no --truth (it would describe records never published).
    """
    if follow and truth is not None:
        raise typer.BadParameter("a live feed has no final ground truth: drop --truth or --follow")
    if follow:
        _sigterm_is_ctrl_c()
    settings = KafkaSettings()
    config = pipeline.simulation_config(customers, days, seed, start.date() if start else None)
    console.print(
        f"simulating {customers:,} customers over {days} days from "
        f"{config.resolved_start()} (seed {seed}) to {settings.bootstrap_servers}"
    )
    with _exit_on_interrupt("simulate"):  # with --follow, Ctrl-C is the normal end and returns
        result = pipeline.simulate(
            settings, config, truth_path=truth, follow=follow, rate=rate, console=console
        )
    out.print(
        f"published [bold]{result.records:,}[/] records ({result.events:,} events, "
        f"{result.duplicates:,} duplicates, {result.malformed:,} malformed) in "
        f"{result.seconds:.1f} s"
    )
    if truth:
        out.print(f"ground truth written to {escape(str(truth))}")


@app.command()
def produce(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="JSON Lines, one event per line.")
    ],
) -> None:
    """Publish your own events from a JSON Lines file, after checking each against the contract.

    Good lines go to the topic of their department; bad lines are listed with their line number
    and reason, and make the command exit 1 after the good ones are published.
    """
    report = produce_file(file, KafkaSettings())
    out.print(f"published [bold]{report.published:,}[/] events from {escape(str(file))}")
    for number, reason in report.bad_lines[:50]:
        out.print(f"  line {number}: {escape(reason)}")
    if len(report.bad_lines) > 50:
        out.print(f"  ... and {len(report.bad_lines) - 50:,} more bad lines")
    if report.bad_lines:
        out.print(f"[yellow]{len(report.bad_lines):,} lines were not published[/]")
        raise typer.Exit(1)


@app.command()
def ingest(
    follow: Annotated[bool, typer.Option(help="Keep loading new events until SIGTERM or Ctrl-C.")] = False,
) -> None:
    """Load the touchpoint topics into the warehouse exactly once.

    Without --follow it drains until caught up and exits. Valid events land in raw.touchpoints,
    invalid ones in raw.quarantine (and the DLQ topic), with the offsets, in one transaction per
    batch. SIGTERM finishes the current batch, commits and exits 0; Ctrl-C stops at once, after the
    batch being written commits (it is counted), and exits 0 too.

    Each partition resumes from the offset stored in the warehouse, once the broker shows it still
    holds the last record loaded from there: a re-created topic, or a broker that lost its data,
    stops it before anything is loaded (exit 2), with what to do.
    """
    with _exit_on_interrupt("ingest"):  # only before loading starts: then Ctrl-C returns the totals
        stats = pipeline.ingest(
            KafkaSettings(), LoaderSettings(), WarehouseSettings(), follow=follow, console=console
        )
    out.print(summary_line(stats))


def summary_line(stats: LoadStats) -> str:
    line = (
        f"loaded [bold]{stats.loaded:,}[/] events, quarantined [bold]{stats.quarantined:,}[/]"
        f"{stats.quarantine_note()}, skipped {stats.duplicates:,} duplicates, in {stats.batches:,} batches"
    )
    return f"{line} ({stats.rate:,.0f} records/s)" if stats.rate else line


@app.command()
def transform(
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild every incremental model from raw.")
    ] = False,
    select: Annotated[
        list[str] | None,
        typer.Option("--select", "-s", help="dbt node selection, e.g. fct_order_journeys+ (repeatable)."),
    ] = None,
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Judge journey outcomes at this date (overdue lines, 30-day settle windows).",
            show_default="today in JOURNEYS_BUSINESS_TIMEZONE",
        ),
    ] = None,
    unit_tests: Annotated[
        bool, typer.Option("--unit-tests", help="Also run dbt's unit tests of the model logic (CI does).")
    ] = False,
) -> None:
    """Build the journey marts with dbt: staging, identity stitching, facts and marts, with tests.

    Runs `dbt build` of dbt_project/ against JOURNEYS_WAREHOUSE_URL; incremental models rebuild
    every journey and customer that new events touch, however late they arrived. Dates are judged
    on the business's calendar (JOURNEYS_BUSINESS_TIMEZONE; after changing it, --full-refresh).
    Exits 1 when a model or test fails, after explaining each failure.
    """
    with _exit_on_interrupt("transform"):
        summary = run_dbt(
            WarehouseSettings(),
            PrivacySettings(),
            full_refresh=full_refresh,
            select=tuple(select or ()),
            as_of=as_of.date() if as_of else None,
            unit_tests=unit_tests,
        )
    table = Table(title=f"dbt build on {summary.target}", show_header=True)
    table.add_column("models built", justify="right")
    table.add_column("tests passed", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("warned", justify="right")
    table.add_column("errors", justify="right")
    table.add_column("skipped", justify="right")
    table.add_column("seconds", justify="right")
    table.add_row(
        str(summary.models),
        str(summary.tests_passed),
        str(summary.tests_failed),
        str(summary.tests_warned),
        str(summary.errors),
        str(summary.skipped),
        f"{summary.elapsed:.1f}",
    )
    out.print(table)
    for problem in (*summary.failures, *summary.warnings):
        colour = "yellow" if problem.status == "warn" else "red"
        out.print(f"[{colour}]{problem.status}[/] {escape(problem.node)}: {escape(problem.message)}")
        if problem.explanation:
            out.print(f"    what it checks: {escape(problem.explanation)}")
    if not summary.success:
        out.print(f"[red]dbt build failed[/]; the full log is {escape(str(summary.log_path))}")
        raise typer.Exit(1)


class Gate(StrEnum):
    """The two quality gates: before dbt (raw) and after it (marts)."""

    raw = "raw"
    marts = "marts"


@app.command()
def check(
    gate: Annotated[Gate, typer.Argument(help="raw: what the loader landed; marts: what dbt built.")],
    list_only: Annotated[
        bool, typer.Option("--list", help="List the gate's expectations and severities; validate nothing.")
    ] = False,
) -> None:
    """Validate the warehouse with Great Expectations, before dbt (raw) or after it (marts).

    Prints every expectation that failed, with how many rows broke it and a few examples, keeps
    one row per expectation in quality.expectation_results and builds Data Docs. Exits 1 when a
    critical expectation failed; warnings are printed and exit 0. Severities are set per
    expectation with JOURNEYS_QUALITY_SEVERITY (names from --list).
    """
    stage: Stage = "raw" if gate is Gate.raw else "marts"
    if list_only:
        out.print(expectations_listing(stage, QualitySettings()), crop=False)  # names whole
        return
    result = pipeline.check(stage, WarehouseSettings())
    print_check(result)
    if not result.passed:
        raise typer.Exit(1)


def expectations_listing(stage: Stage, quality: QualitySettings) -> Group:
    """Each expectation's name on a line of its own (never wrapped: it is copied into
    JOURNEYS_QUALITY_SEVERITY), its severity, and what it checks indented below."""
    from expectations.suites import all_expectations, expectation_name, suites_for  # GX is slow to import

    expectations = list(all_expectations(suites_for(stage, quality)))
    title = f"journeys check {stage}: {len(expectations)} expectations\n"
    lines: list[Text | Padding] = [Text(title, style="bold")]
    colours = {"critical": "red", "warning": "yellow", "info": "cyan"}
    for _, expectation in expectations:
        severity = str(getattr(expectation.severity, "value", expectation.severity))
        name = Text(expectation_name(expectation), style="bold", no_wrap=True, overflow="ignore")
        name.append(f"  {severity}", style=colours.get(severity, ""))
        lines += [name, Padding(Text(expectation.description or ""), (0, 0, 0, 2))]
    return Group(*lines)


def print_check(result: CheckResult) -> None:
    """The readable summary: each failed expectation, how many rows, a few examples."""
    failed = sorted(result.failures, key=lambda o: ("critical", "warning", "info").index(o.severity))
    if failed:
        table = Table(title=f"journeys check {result.stage}: {len(failed)} failed", show_header=True)
        table.add_column("severity")
        table.add_column("expectation", overflow="fold")
        table.add_column("rows", justify="right")
        table.add_column("examples")
        for outcome in failed:
            colour = "red" if outcome.critical else "yellow"
            table.add_row(
                f"[{colour}]{outcome.severity}[/]",
                f"{escape(outcome.name)}\n[dim]{escape(outcome.description)}[/]",
                _rows(outcome),
                escape(_examples(outcome)),
            )
        out.print(table)
    colour = "green" if result.passed else "red"
    out.print(f"[{colour}]{escape(result.headline())}[/]")
    if result.data_docs is not None:
        out.print(f"Data Docs: {escape(result.data_docs.as_uri())}")
    if result.stored:
        out.print(f"results: quality.expectation_results, run_id {result.run_id}")


def _rows(outcome: ExpectationOutcome) -> str:
    if outcome.exception:
        return "error"
    if outcome.unexpected_count is not None:
        of = f" of {outcome.element_count:,}" if outcome.element_count is not None else ""
        return f"{outcome.unexpected_count:,}{of}"
    return f"observed {outcome.observed_value}" if outcome.observed_value is not None else ""


def _examples(outcome: ExpectationOutcome) -> str:
    if outcome.exception:
        return " ".join(outcome.exception.split())[:300]
    shown = []
    for example in outcome.examples:
        if isinstance(example, dict):
            shown.append(", ".join(f"{key}={value}" for key, value in example.items()))
        else:
            shown.append(repr(example))
    return "\n".join(shown)


@app.command()
def run(
    customers: Annotated[int, typer.Option(min=1, help="How many customers to simulate.")] = 3000,
    days: Annotated[int, typer.Option(min=1, help="How many days of history, ending today.")] = 90,
    seed: Annotated[int, typer.Option(help="Same seed, same events.")] = 42,
    warehouse: Annotated[
        str | None,
        typer.Option(
            help="Warehouse URL (e.g. postgresql://me@host/db).", show_default="JOURNEYS_WAREHOUSE_URL"
        ),
    ] = None,
    report_path: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            "--report",  # its first name, kept working
            help="Where to write the HTML report.",
            show_default="JOURNEYS_REPORT_PATH",
        ),
    ] = None,
) -> None:
    """Do the whole job on embedded defaults: simulate, ingest, check raw, dbt, check marts, report.

    Starts an embedded broker when none answers at JOURNEYS_KAFKA_BOOTSTRAP_SERVERS, and stops
    it at the end. A failed critical raw expectation stops the run before dbt; exits 1 then, or
    when dbt or the marts gate fails. Ends with a summary and the path of the HTML report.
    Running it again with the same seed loads nothing twice: every event is stored once.

    Before publishing anything it checks the PII key, the warehouse (creating its raw tables, as
    ingest would) and the report's folder: exit 2 with one sentence. Ctrl-C stops it in any
    stage, says what is kept and exits 130.
    """
    settings = WarehouseSettings(url=warehouse) if warehouse else WarehouseSettings()
    with _exit_on_interrupt("run"):
        result = pipeline.run(
            customers=customers,
            days=days,
            seed=seed,
            console=console,
            warehouse=settings,
            report_path=report_path,
        )
    table = Table(title="journeys run", show_header=True, title_justify="left")
    table.add_column("stage")
    table.add_column("result")
    table.add_column("seconds", justify="right")
    for stage in result.stages:
        table.add_row(stage.name, escape(stage.summary), f"{stage.seconds:.1f}")
    table.add_row("[bold]total[/]", "", f"[bold]{sum(stage.seconds for stage in result.stages):.1f}[/]")
    out.print(table)
    if result.report_error:  # every stage before it is done: the table above says what they did
        console.print(f"[bold red]error:[/] {escape(result.report_error)}")
        raise typer.Exit(2)
    if result.problem:
        out.print(f"[red]stopped:[/] {escape(result.problem)}")
        raise typer.Exit(1)
    if result.insights is not None:
        out.print(run_summary(result.insights))
    if result.report_path is not None:
        out.print(
            f"report: [bold]{escape(str(result.report_path))}[/] (open it in a browser; it works offline)"
        )


@app.command()
def report(
    path: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write it.", show_default="JOURNEYS_REPORT_PATH"),
    ] = None,
) -> None:
    """Write the HTML journey report from the marts: one self-contained file that works offline.

    Charts: outcome mix per week, the stage funnel with time to each stage, hand-offs between
    departments, the department scorecard, CSAT by outcome and owner, cohort retention and the
    top journey paths, each with a line on what it shows. Run `journeys transform` first.
    """
    written = pipeline.write_report(WarehouseSettings(), path)
    out.print(f"report written to [bold]{escape(str(written))}[/]")


@app.command()
def status() -> None:
    """Show at a glance whether data flows and is good: lag, last load, rows, freshness, gates.

    Lag compares what the broker holds with the offsets the warehouse has stored for the
    consumer group (JOURNEYS_KAFKA_CONSUMER_GROUP, or the group that loaded last). Freshness
    warns after 6 hours without a new event and errs after 24, like the dbt source freshness.
    Reads the warehouse read-only, so it is safe while other stages run on PostgreSQL. DuckDB
    lets no other process open a file a loader holds: then status says so and shows the lag from
    the offsets the loader commits to Kafka, the warehouse's rows, freshness and gates unavailable.
    The quarantine's count says how many distinct records its rows are (a rerun publishes copies).
    """
    out.print(status_view.render(status_view.gather(KafkaSettings(), WarehouseSettings())))


def main() -> None:
    """Entry point: user errors become one sentence and exit code 2; bugs keep their traceback."""
    try:
        app()  # standalone: usage errors and exit codes are handled there and end in SystemExit
    except Exception as error:  # the one place that decides how errors reach people
        message = describe(error)
        if message is None:
            raise
        console.print(f"[bold red]error:[/] {escape(message)}")
        sys.exit(2)
