"""The `journeys` command line: every stage of the pipeline, one command each."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from journeys import pipeline
from journeys.errors import describe
from journeys_core.settings import KafkaSettings, LoaderSettings, WarehouseSettings
from streams.broker import EmbeddedBroker
from streams.consume import LoadStats
from streams.produce import produce_file

app = typer.Typer(
    name="journeys",
    help=(
        "Customer journeys across sales, shipping and support: Kafka -> warehouse exactly once.\n\n"
        "Configuration comes from JOURNEYS_* environment variables (see .env.example).\n"
        "Quick start: `journeys run` does the whole job on embedded defaults."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console(stderr=True)
out = Console()


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
        logging.getLogger("kafka").setLevel(logging.ERROR)


@app.command()
def broker(
    port: Annotated[int, typer.Option(help="Loopback port to listen on.")] = 9092,
    partitions: Annotated[
        int | None,
        typer.Option(help="Partitions per new topic [default: JOURNEYS_KAFKA_PARTITIONS]."),
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
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
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
    customers: Annotated[int, typer.Option(help="How many customers.")] = 2000,
    days: Annotated[int, typer.Option(help="How many days of history, ending today.")] = 90,
    seed: Annotated[int, typer.Option(help="Same seed, same events.")] = 42,
    start: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="First day [default: DAYS ago]."),
    ] = None,
    truth: Annotated[
        Path | None, typer.Option(help="Write the true customer and outcome of everything here.")
    ] = None,
    follow: Annotated[bool, typer.Option(help="Keep publishing, paced by --rate.")] = False,
    rate: Annotated[float, typer.Option(help="Events per second with --follow.")] = 200.0,
) -> None:
    """Publish realistic, seeded journeys for all three departments.

    Faults are injected on purpose (duplicates, late and out-of-order arrival, malformed records)
    so the loader's quarantine and exactly-once handling have something to do.
    """
    settings = KafkaSettings()
    config = pipeline.simulation_config(customers, days, seed, start.date() if start else None)
    console.print(
        f"simulating {customers:,} customers over {days} days from "
        f"{config.resolved_start()} (seed {seed}) to {settings.bootstrap_servers}"
    )
    result = pipeline.simulate(settings, config, truth_path=truth, follow=follow, rate=rate, console=console)
    out.print(
        f"published [bold]{result.records:,}[/] records ({result.events:,} events, "
        f"{result.duplicates:,} duplicates, {result.malformed:,} malformed) in "
        f"{result.seconds:.1f} s"
    )
    if truth:
        out.print(f"ground truth written to {truth}")


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
    out.print(f"published [bold]{report.published:,}[/] events from {file}")
    for number, reason in report.bad_lines[:50]:
        out.print(f"  line {number}: {reason}")
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
    batch. SIGTERM finishes the current batch, commits and exits 0.
    """
    stats = pipeline.ingest(
        KafkaSettings(), LoaderSettings(), WarehouseSettings(), follow=follow, console=console
    )
    out.print(summary_line(stats))


def summary_line(stats: LoadStats) -> str:
    rate = stats.consumed / stats.elapsed if stats.elapsed else 0.0
    return (
        f"loaded [bold]{stats.loaded:,}[/] events, quarantined [bold]{stats.quarantined:,}[/], "
        f"skipped {stats.duplicates:,} duplicates, in {stats.batches:,} batches "
        f"({rate:,.0f} records/s)"
    )


@app.command()
def run(
    customers: Annotated[int, typer.Option(help="How many customers to simulate.")] = 2000,
    days: Annotated[int, typer.Option(help="How many days of history.")] = 90,
    seed: Annotated[int, typer.Option(help="Same seed, same events.")] = 42,
) -> None:
    """Do the whole job on embedded defaults: broker, simulate, ingest.

    Starts an embedded broker when none answers at JOURNEYS_KAFKA_BOOTSTRAP_SERVERS, and stops
    it at the end. (dbt, the quality gates and the report join this command as they land.)
    """
    result = pipeline.run(customers=customers, days=days, seed=seed, console=console)
    table = Table(title="journeys run", show_header=True)
    table.add_column("stage")
    table.add_column("result")
    table.add_column("seconds", justify="right")
    for stage in result.stages:
        table.add_row(stage.name, stage.summary, f"{stage.seconds:.1f}")
    out.print(table)


def main() -> None:
    """Entry point: user errors become one sentence and exit code 2; bugs keep their traceback."""
    try:
        app()  # standalone: usage errors and exit codes are handled there and end in SystemExit
    except Exception as error:  # the one place that decides how errors reach people
        message = describe(error)
        if message is None:
            raise
        console.print(f"[bold red]error:[/] {message}")
        sys.exit(2)
