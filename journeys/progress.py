"""Progress displays for long stages: live counts and rates where the total is unknown."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from streams.consume import LoadStats


class CounterProgress:
    """A spinner line that shows the loader's running totals."""

    def __init__(self, progress: Progress, description: str) -> None:
        self.progress = progress
        self.task = progress.add_task(description, total=None, stats="")

    def show(self, text: str) -> None:
        self.progress.update(self.task, stats=text)

    def update_stats(self, stats: LoadStats) -> None:
        self.progress.update(
            self.task,
            stats=(
                f"{stats.loaded:,} loaded, {stats.quarantined:,} quarantined{stats.quarantine_note()}, "
                f"{stats.duplicates:,} duplicates, {stats.rate:,.0f}/s"
            ),
        )


@contextmanager
def counter_progress(console: Console, description: str) -> Iterator[CounterProgress]:
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}[/]"),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )
    with progress:
        yield CounterProgress(progress, description)
