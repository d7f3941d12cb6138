"""`journeys events tombstone|correct`: the way out of a bad event that was already loaded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from journeys_core.settings import LoaderSettings, WarehouseSettings
from streams.corrections import Correction, CorrectionError, correct, tombstone

events_app = typer.Typer(
    name="events",
    help=(
        "Change an event that was already loaded: tombstone it, or correct it in place. Each change "
        "is audited in raw.event_corrections, and the next `journeys transform` rebuilds the marts "
        "without it (or with the corrected event)."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
out = Console()

ReasonOption = Annotated[
    str, typer.Option("--reason", help="Why: kept in the audit row (raw.event_corrections).")
]


@events_app.command("tombstone")
def tombstone_command(
    event_id: Annotated[str, typer.Argument(help="The event_id (UUID) of a loaded event.")],
    reason: ReasonOption,
) -> None:
    """Remove a loaded event from raw.touchpoints; the audit row keeps it as it was.

    Example: `journeys events tombstone 0b6f...e1 --reason "test order placed in production"`
    """
    _done(_checked(lambda: tombstone(WarehouseSettings().url, event_id, reason)))


@events_app.command("correct")
def correct_command(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="The corrected event: one JSON object with the same event_id."
        ),
    ],
    reason: ReasonOption,
) -> None:
    """Replace a loaded event with a corrected copy (same event_id), checked against the contract.

    Where the loader read it (topic, partition, offset) stays; everything the event says may
    change, even its type. Example: `journeys events correct fixed.json --reason "amount in cents"`
    """
    future = dt.timedelta(seconds=LoaderSettings().max_future_seconds)
    payload = file.read_bytes()
    _done(_checked(lambda: correct(WarehouseSettings().url, payload, reason, max_future=future)))


def _checked(change: Callable[[], Correction]) -> Correction:
    try:
        return change()
    except CorrectionError as error:
        out.print(f"[red]{error}[/]", soft_wrap=True)
        raise typer.Exit(2) from error


def _done(done: Correction) -> None:
    if done.action == "tombstone":
        said, next_run = "tombstoned", "rebuilds the marts without it"
    else:
        said, next_run = "corrected", "parses it again and rebuilds the marts with it"
    out.print(
        f"{said} {done.event_id} ({done.event_type}); audited in raw.event_corrections. The next "
        f"`journeys transform` {next_run}.",
        soft_wrap=True,
    )
