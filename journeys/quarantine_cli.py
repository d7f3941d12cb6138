"""`journeys quarantine list|replay`: see what the loader refused, and load it after a fix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from journeys_core.settings import LoaderSettings, PrivacySettings, WarehouseSettings
from streams.quarantine import QuarantineSummary, summarise
from streams.replay import CORRECTIONS_FORMAT, ReplayResult, read_corrections, replay

quarantine_app = typer.Typer(
    name="quarantine",
    help="Records the loader refused (raw.quarantine): list them by reason, replay them after a fix.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
out = Console()
# What the list's other columns take: records 9, first/last seen 18, the offsets' minimum 12,
# borders 6, and the padding of reason and topic 4; the copies column, when shown, 9 more.
_FIXED_COLUMNS_WIDTH = 49
_COPIES_COLUMN_WIDTH = 9

ReasonOption = Annotated[
    str | None, typer.Option(help="Only reasons containing this text (case-insensitive).")
]
TopicOption = Annotated[
    str | None, typer.Option(help="Only records from this topic, e.g. touchpoints.sales.")
]


@quarantine_app.command("list")
def list_command(
    reason: ReasonOption = None,
    topic: TopicOption = None,
    samples: Annotated[int, typer.Option(min=1, help="Sample offsets shown per reason.")] = 3,
    payloads: Annotated[
        bool,
        typer.Option("--payloads", help="Show the start of each sample payload (emails, phones masked)."),
    ] = False,
) -> None:
    """Show the records waiting in quarantine, grouped by reason and topic, largest group first.

    Values inside reasons (timestamps, sizes, names) are blanked so that records refused by the
    same rule group together; one full reason is shown per group. A record published again (each
    `journeys run` publishes its data set to topics of its own) is counted once, under the topic
    of its latest copy; the copies column says how many rows wait for the group's records. Sample
    offsets are partition:offset on the topic, the keys `journeys quarantine replay --corrections`
    uses.
    """
    summary = summarise(
        WarehouseSettings().url, reason=reason, topic=topic, samples=samples, previews=payloads
    )
    print_summary(summary, payloads)


def print_summary(summary: QuarantineSummary, payloads: bool) -> None:
    if not summary.groups:
        out.print("[green]no records waiting in quarantine[/]" + _replayed_note(summary))
        if summary.waiting_elsewhere:
            out.print(
                f"{_records(summary.waiting_elsewhere)} wait under other topics or reasons: "
                "`journeys quarantine list` without filters shows them"
            )
        return
    copies = summary.waiting > summary.distinct
    title = f"{_records(summary.distinct)} in quarantine"
    if copies:
        title += f" ({summary.waiting:,} copies)"
    # Topics of one run share a long prefix (touchpoints.run-<time>.): said once, in the title.
    prefixes = {group.topic.rpartition(".")[0] for group in summary.groups}
    shared = prefixes.pop() + "." if len(prefixes) == 1 and "" not in prefixes else ""
    if shared:
        title += f", topics {shared}*"
    table = Table(
        title=escape(title),
        caption="sample offsets: partition:offset, the keys `journeys quarantine replay --corrections` takes",
        show_header=True,
        show_lines=True,
    )
    # Rich sizes a column no narrower than its longest word (a reason may quote a 79-character
    # pattern, a topic be 40 characters), which pushed the last columns off an 80-column
    # terminal: reason and topic share what the other columns leave.
    topic_width = max(len(group.topic.removeprefix(shared)) for group in summary.groups)
    room = out.width - _FIXED_COLUMNS_WIDTH - (_COPIES_COLUMN_WIDTH if copies else 0)
    topic_width = min(topic_width, max(8, room - 20))
    table.add_column("reason", overflow="fold", max_width=min(80, max(14, room - topic_width)))
    table.add_column("topic", overflow="fold", max_width=topic_width)
    table.add_column("records", justify="right")
    if copies:
        table.add_column("copies", justify="right")
    table.add_column("first seen\nlast seen", no_wrap=True)
    table.add_column("sample offsets", overflow="fold", min_width=10)
    for group in summary.groups:
        # One record: its own reason says more; several: the rule, then one full example.
        reason = escape(group.example if group.count == 1 else group.kind)
        if group.count > 1 and group.example != group.kind:
            reason += f"\n[dim]e.g. {escape(group.example)}[/]"
        row = [
            reason,
            escape(group.topic.removeprefix(shared)),
            f"{group.count:,}",
            *([f"{group.copies:,}"] if copies else []),
            "\n".join(f"{seen:%Y-%m-%d %H:%M}" for seen in (group.first_seen, group.last_seen) if seen),
            ", ".join(f"{partition}:{offset}" for partition, offset in group.samples),
        ]
        table.add_row(*row)
    out.print(table)
    if payloads:
        out.print(previews_table(summary))
    if summary.replayed:
        out.print(_replayed_note(summary).strip())


def previews_table(summary: QuarantineSummary) -> Table:
    table = Table(title="sample payloads (start; emails and phones masked)", show_header=True)
    table.add_column("topic", no_wrap=True)
    table.add_column("partition:offset", no_wrap=True)
    table.add_column("payload", overflow="fold")
    for group in summary.groups:
        for (partition, offset), preview in zip(group.samples, group.previews, strict=True):
            table.add_row(escape(group.topic), f"{partition}:{offset}", escape(preview))
    return table


def _records(count: int) -> str:
    return f"{count:,} record" + ("" if count == 1 else "s")


def _replayed_note(summary: QuarantineSummary) -> str:
    if not summary.replayed:
        return ""
    return f" ({summary.replayed:,} replayed earlier, not shown)"


REPLAY_HELP = (
    """Re-validate quarantined records with the current contract and load those that now pass.

Run it after a contract fix, or with --corrections to supply fixed payloads. Records that
pass go to raw.touchpoints exactly once (an event_id already there is not loaded again) and
are marked replayed in raw.quarantine, so replaying twice loads nothing more; the rest stay
with their reason updated. One transaction: all of it is kept, or none. Exits 1 when a
correction names no record waiting in quarantine.

**Corrections file.** """
    + CORRECTIONS_FORMAT
)


@quarantine_app.command("replay", help=REPLAY_HELP)
def replay_command(
    corrections: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="JSON Lines of corrected payloads (format above); only the records named are replayed.",
        ),
    ] = None,
    reason: ReasonOption = None,
    topic: TopicOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would happen; change nothing.")
    ] = False,
) -> None:
    result = replay(
        WarehouseSettings().url,
        loader=LoaderSettings(),
        privacy=PrivacySettings(),
        corrections=read_corrections(corrections) if corrections else None,
        reason=reason,
        topic=topic,
        dry_run=dry_run,
    )
    print_replay(result)
    if result.unmatched:
        raise typer.Exit(1)


def print_replay(result: ReplayResult) -> None:
    verb = "would load" if result.dry_run else "loaded"
    out.print(
        f"replayed [bold]{_records(result.examined)}[/] from quarantine: {verb} [bold]{result.loaded:,}[/], "
        f"{result.already_loaded:,} already loaded, {result.still_quarantined:,} still refused "
        f"({result.reasons_changed:,} with a new reason)"
    )
    for topic, partition, offset in result.unmatched[:20]:
        out.print(f"[yellow]no record waiting in quarantine at {escape(topic)} {partition}:{offset}[/]")
    if len(result.unmatched) > 20:
        out.print(f"[yellow]... and {len(result.unmatched) - 20:,} more corrections matched nothing[/]")
    if result.dry_run:
        out.print("dry run: nothing was changed")
