"""`journeys status`: is data flowing and is it good? Lag, last load, row counts, freshness, gates.

DuckDB lets one process write a file and no other open it meanwhile, not even to read: while a
loader (`journeys ingest --follow`) holds the file, status shows what the broker knows instead,
the lag from the offsets the loader mirrors into Kafka after each batch it stores.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from kafka.errors import KafkaError
from rich.console import Group
from rich.markup import escape
from rich.table import Table

from journeys_core.settings import KafkaSettings, WarehouseSettings
from journeys_core.warehouse import Row, WarehouseError, parse_url, read_queries
from streams.offsets import LogEnds, read_log_ends
from streams.quarantine import PAYLOAD_DIGEST
from streams.topics import BrokerUnavailable, admin_client, department_topics

# The same limits as the dbt source freshness on raw.touchpoints (dbt_project/models/staging).
FRESH_WARN = dt.timedelta(hours=6)
FRESH_ERROR = dt.timedelta(hours=24)

TABLES = (
    "raw.touchpoints",
    "raw.quarantine",
    "marts.fct_touchpoints",
    "marts.fct_order_journeys",
    "marts.fct_tickets",
    "marts.dim_customers",
)

QUERIES = {
    "offsets": """
        select consumer_group, topic, kafka_partition, next_offset, updated_at from raw.ingest_offsets""",
    "freshness": """
        select department, max(occurred_at) as latest_event, max(loaded_at) as last_load, count(*) as events
        from raw.touchpoints group by department order by department""",
    "quarantine": "select max(quarantined_at) as last_quarantined from raw.quarantine",
    "gates": """
        select results.stage, results.run_id, max(results.run_time) as run_time,
               sum(case when results.success then 1 else 0 end) as met, count(*) as expectations,
               sum(case when not results.success and results.severity = 'critical' then 1 else 0 end)
                   as critical_failed,
               sum(case when not results.success and results.severity <> 'critical' then 1 else 0 end)
                   as other_failed
        from quality.expectation_results as results
        inner join (
            select stage, max(run_time) as run_time from quality.expectation_results group by stage
        ) as latest on latest.stage = results.stage and latest.run_time = results.run_time
        group by results.stage, results.run_id order by results.stage""",
    **{table: f"select count(*) as n from {table}" for table in TABLES},
    # Records `journeys quarantine replay` has since loaded are not waiting any more; a record
    # published again (each `journeys run` does) is one record to fix however many copies wait.
    "raw.quarantine": f"""
        select count(*) as n, count(distinct {PAYLOAD_DIGEST}) as distinct_payloads
        from raw.quarantine where replayed_at is null""",
}

# DuckDB's "Could not set lock on file ...: Conflicting lock is held in <program> (PID 123)".
_LOCK_HOLDER = re.compile(r"\(PID (\d+)\)")


@dataclass(frozen=True)
class TopicLag:
    topic: str
    end: int | None  # one past the last offset, summed over partitions; None: the broker lacks it
    # Offsets the warehouse has stored for this consumer group (or, while a loader holds the DuckDB
    # file, those it mirrored into Kafka: they can trail the warehouse's, never lead them).
    stored: int
    updated_at: Any  # when the group last committed to the warehouse; None from Kafka
    # A partition ends before the offset the warehouse stored: the topic was re-created, or the
    # broker lost records; `journeys ingest` refuses it and says what to do.
    replaced: bool = False
    # A partition's last records did not come back: `end` and `lag` are only lower bounds, since a
    # broker's own end can be short (Tansu's is).
    unconfirmed: bool = False

    @property
    def lag(self) -> int | None:
        return None if self.end is None else max(self.end - self.stored, 0)


def topic_lags(
    topics: Iterable[str], stored: dict[tuple[str, int], int], updated: dict[str, Any], tails: LogEnds
) -> list[TopicLag]:
    """Lag per topic: each partition's own lag, summed.

    A partition whose end is not confirmed counts as ending at least where the warehouse loaded up
    to: a short end from the broker never reads as "loaded past Kafka", nor hides another's lag.
    """
    lags = []
    for topic in sorted(topics):
        keys = sorted({key for key in [*tails.ends, *stored] if key[0] == topic})
        ends = {key: tails.ends[key] for key in keys if key in tails.ends}
        replaced = any(tails.confirmed(key) and end < stored.get(key, 0) for key, end in ends.items())
        unconfirmed = not replaced and any(not tails.confirmed(key) for key in keys)
        if not replaced:  # a re-created topic shows what it holds; the others at least what was loaded
            ends = {key: max(ends.get(key, 0), stored.get(key, 0)) for key in keys} if ends else {}
        total = sum(ends.values()) if ends else None
        loaded = sum(stored.get(key, 0) for key in keys)
        lags.append(TopicLag(topic, total, loaded, updated.get(topic), replaced, unconfirmed))
    return lags


@dataclass
class Status:
    warehouse: str
    broker: str
    consumer_group: str
    broker_problem: str | None = None
    lags: list[TopicLag] = field(default_factory=list)
    counts: dict[str, int | None] = field(default_factory=dict)
    quarantine_distinct: int | None = None  # distinct payloads among the waiting quarantine rows
    # Who holds the DuckDB file ("a running loader (pid 123)"): the warehouse cannot be read now.
    held_by: str | None = None
    freshness: list[Row] = field(default_factory=list)
    gates: list[Row] = field(default_factory=list)
    denied: set[str] = field(default_factory=set)  # queries this PostgreSQL login may not run
    last_load: Any = None
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def freshness_state(self, latest: Any) -> str:
        age = self.now - _aware(latest)
        if age > FRESH_ERROR:
            return "error"
        return "warn" if age > FRESH_WARN else "ok"


def _aware(moment: Any) -> dt.datetime:
    """DuckDB hands back naive UTC timestamps, PostgreSQL aware ones: compare them all as UTC."""
    value: dt.datetime = moment
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def gather(kafka: KafkaSettings, warehouse: WarehouseSettings) -> Status:
    """Read the warehouse (read-only) and the broker's partition ends; a broker that is down is reported.

    When another process holds the DuckDB file, the lag comes from the group's offsets in Kafka.
    """
    status = Status(
        warehouse=parse_url(warehouse.url).redacted(),
        broker=kafka.bootstrap_servers,
        consumer_group=kafka.consumer_group,
    )
    # Each least-privilege role reads part of it (the loader no marts, the analyst no raw).
    try:
        rows = read_queries(warehouse.url, QUERIES, missing_ok=True, denied=status.denied)
    except WarehouseError as error:
        status.held_by = lock_holder(error)
        if status.held_by is None:
            raise
        return _lags_from_kafka(status, kafka)
    _read_warehouse(status, rows)
    return _lags_from_warehouse(status, kafka, rows["offsets"])


def lock_holder(error: WarehouseError) -> str | None:
    """Who holds the DuckDB file, when that is why it could not be opened; None for other errors."""
    cause = error.__cause__
    if not isinstance(cause, duckdb.IOException) or "lock" not in str(cause).lower():
        return None
    found = _LOCK_HOLDER.search(str(cause))
    if found is None:
        return "another process"
    pid = int(found.group(1))
    return f"{'a running loader' if _is_loader(pid) else 'another process'} (pid {pid})"


def _is_loader(pid: int) -> bool:
    """Whether that process runs `journeys ingest` (on this host, where /proc says so)."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"ingest" in arguments


def _read_warehouse(status: Status, rows: dict[str, list[Row]]) -> None:
    status.counts = {table: (int(rows[table][0]["n"]) if rows[table] else None) for table in TABLES}
    if rows["raw.quarantine"]:
        status.quarantine_distinct = int(rows["raw.quarantine"][0]["distinct_payloads"])
    status.freshness = rows["freshness"]
    status.gates = rows["gates"]
    loads = [row["last_load"] for row in rows["freshness"] if row["last_load"] is not None]
    loads += [row["last_quarantined"] for row in rows["quarantine"] if row["last_quarantined"] is not None]
    status.last_load = max((_aware(moment) for moment in loads), default=None)


def _lags_from_warehouse(status: Status, kafka: KafkaSettings, offsets: list[Row]) -> Status:
    """Lag against the offsets the warehouse stored for the consumer group."""
    mine = [row for row in offsets if row["consumer_group"] == kafka.consumer_group]
    configured = set(department_topics(kafka))
    wanted = set(configured)
    if mine and not any(row["topic"] in configured for row in mine):
        # `journeys run` gives each embedded broker topics of its own: show the last ones loaded,
        # and the configured ones too when the broker has them (records nobody loaded yet).
        latest = max(mine, key=lambda row: _aware(row["updated_at"]))["topic"].rsplit(".", 1)[0]
        wanted = {row["topic"] for row in mine if row["topic"].rsplit(".", 1)[0] == latest}
    stored_at: dict[tuple[str, int], int] = {}
    updated: dict[str, Any] = {}
    for row in mine:
        if row["topic"] in wanted:
            stored_at[(row["topic"], int(row["kafka_partition"]))] = int(row["next_offset"])
            moment = _aware(row["updated_at"])
            updated[row["topic"]] = max(updated.get(row["topic"], moment), moment)
    try:
        admin_client(kafka, attempts=1, timeout_s=2.0).close()
        tails = read_log_ends(kafka, topics=wanted | configured)
    except BrokerUnavailable:
        status.broker_problem = "not reachable"
        tails = LogEnds({})
    wanted |= {topic for topic in configured if any(key[0] == topic for key in tails.ends)}
    if "offsets" in status.denied:
        return status  # without the stored offsets a lag would read as "everything"
    status.lags = topic_lags(wanted, stored_at, updated, tails)
    return status


def _lags_from_kafka(status: Status, kafka: KafkaSettings) -> Status:
    """Lag against the offsets the loader mirrors into Kafka as the group's commits.

    The configured topics, and any other the group committed to that the broker still has.
    """
    configured = set(department_topics(kafka))
    try:
        admin = admin_client(kafka, attempts=1, timeout_s=2.0)
        try:
            group = admin.list_group_offsets({kafka.consumer_group: None}).get(kafka.consumer_group, {})
            existing = set(admin.list_topics())
        finally:
            admin.close()
    except BrokerUnavailable:
        status.broker_problem = "not reachable"
        return status
    except KafkaError as error:
        status.broker_problem = f"did not give the group's offsets ({type(error).__name__})"
        return status
    committed = {
        (tp.topic, tp.partition): int(meta.offset)
        for tp, meta in group.items()
        if meta.offset >= 0 and tp.topic in existing
    }
    wanted = configured | {topic for topic, _ in committed}
    tails = read_log_ends(kafka, topics=wanted)
    status.lags = topic_lags(wanted, committed, {}, tails)
    return status


def _ago(now: dt.datetime, moment: Any) -> str:
    if moment is None:
        return "never"
    seconds = (now - _aware(moment)).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _kafka_and_lag(lag: TopicLag) -> tuple[str, str]:
    """The "in Kafka" and "lag" cells: a lower bound is shown as one, never as a plain 0."""
    if lag.end is None or lag.lag is None:
        return "?", "?"
    if lag.unconfirmed:
        return f"≥ {lag.end:,}", (f"≥ {lag.lag:,}" if lag.lag else "?")
    return f"{lag.end:,}", f"{lag.lag:,}"


# Said in place of the warehouse's rows, freshness and gates while another process holds the file.
_HELD = "[dim](unavailable while the DuckDB file is held)[/]"


def render(status: Status) -> Group:
    """Four small tables, read top to bottom: flow, volume, freshness, quality.

    While the DuckDB file is held, a first line says so and by whom, and the last three tables
    say they are unavailable.
    """
    broker_line = f"broker {escape(status.broker)}: " + (
        f"[red]{escape(status.broker_problem)}[/] (lag unknown)"
        if status.broker_problem
        else "[green]reachable[/]"
    )
    unreadable = {"freshness", "quarantine"} <= status.denied
    if status.held_by is not None:
        load_line = "last load: unknown while the DuckDB file is held"
    elif unreadable:
        load_line = "last load: no access for this login"
    else:
        load_line = f"last load: {_ago(status.now, status.last_load)}"
    held = []
    if status.held_by is not None:
        held.append(
            f"[yellow]the DuckDB file is held by {escape(status.held_by)}: showing what the broker knows[/]"
        )
    tables = (_volume(status), _fresh(status), _gates(status))
    return Group(*held, broker_line, _flow(status), load_line, *tables)


def _flow(status: Status) -> Table:
    """Lag per topic, against the warehouse's stored offsets or, while the file is held, Kafka's."""
    from_kafka = status.held_by is not None
    flow = Table(title=f"Kafka → warehouse (group {escape(status.consumer_group)})", title_justify="left")
    flow.add_column("topic", overflow="fold")  # long run-<time> names: keep the department at the end
    flow.add_column("in Kafka", justify="right")
    flow.add_column("committed in Kafka" if from_kafka else "loaded up to", justify="right")
    flow.add_column("lag", justify="right")
    flow.add_column("last commit", justify="right")
    for lag in status.lags:
        in_kafka, behind = _kafka_and_lag(lag)
        colour = "green" if lag.lag == 0 and not lag.unconfirmed else "yellow"
        if lag.replaced:
            behind, colour = "re-created?", "red"
        flow.add_row(
            escape(lag.topic),
            in_kafka,
            f"{lag.stored:,}",
            f"[{colour}]{behind}[/]",
            "?" if from_kafka else _ago(status.now, lag.updated_at),
        )
    if "offsets" in status.denied:
        flow.add_row("(this login cannot read raw.ingest_offsets: lag unknown)", "", "", "", "")
    elif from_kafka and status.broker_problem:
        flow.add_row("(the warehouse is held and the broker did not answer: lag unknown)", "", "", "", "")
    elif not status.lags:
        flow.add_row("(no topics and no stored offsets yet)", "", "", "", "")
    notes = []
    if from_kafka and status.lags:
        notes.append(
            "committed in Kafka: what the loader mirrors there after each batch it stores; it can trail "
            "the warehouse, never lead it; Kafka keeps no time for it (last commit ?)"
        )
    if any(lag.replaced for lag in status.lags):
        notes.append(
            "re-created?: a partition ends before what was loaded from it; journeys ingest says what to do"
        )
    if any(lag.unconfirmed and lag.end is not None for lag in status.lags):
        notes.append(
            "≥: the broker did not return a partition's last records, so where it ends is a lower bound"
        )
    if notes:
        flow.caption = "\n".join(notes)
        flow.caption_justify = "left"
    return flow


def _volume(status: Status) -> Table:
    volume = Table(title=f"Warehouse {escape(status.warehouse)}", title_justify="left")
    volume.add_column("table")
    volume.add_column("rows", justify="right")
    if status.held_by is not None:
        volume.add_row(_HELD, "")
    for table, count in status.counts.items():
        name = f"{table} (waiting)" if table == "raw.quarantine" else table
        if table in status.denied:
            volume.add_row(name, "[dim]no access for this login[/]")
        elif count is None:
            volume.add_row(name, "[dim]not built yet[/]")
        else:
            volume.add_row(name, _rows(status, table, count))
    return volume


def _rows(status: Status, table: str, count: int) -> str:
    """A row count; the quarantine's also says how many distinct records its copies are."""
    distinct = status.quarantine_distinct
    if table == "raw.quarantine" and distinct is not None and distinct < count:
        return f"{count:,} ({distinct:,} distinct)"
    return f"{count:,}"


def _fresh(status: Status) -> Table:
    fresh = Table(title="Source freshness (newest event per department)", title_justify="left")
    fresh.add_column("department")
    fresh.add_column("events", justify="right")
    fresh.add_column("newest event", justify="right")
    fresh.add_column("state")
    colours = {"ok": "green", "warn": "yellow", "error": "red"}
    for row in status.freshness:
        state = status.freshness_state(row["latest_event"])
        fresh.add_row(
            row["department"],
            f"{int(row['events']):,}",
            _ago(status.now, row["latest_event"]),
            f"[{colours[state]}]{state}[/]",
        )
    if status.held_by is not None:
        fresh.add_row(_HELD, "", "", "")
    elif not status.freshness:
        unread = "freshness" in status.denied
        fresh.add_row("(this login cannot read raw)" if unread else "(no events loaded yet)", "", "", "")
    return fresh


def _gates(status: Status) -> Table:
    gates = Table(title="Last quality gates", title_justify="left")
    gates.add_column("gate")
    gates.add_column("when", justify="right")
    gates.add_column("met", justify="right")
    gates.add_column("result")
    for row in status.gates:
        passed = int(row["critical_failed"]) == 0
        verdict = "[green]passed[/]" if passed else f"[red]FAILED[/] ({row['critical_failed']} critical)"
        if int(row["other_failed"]):
            verdict += f", {row['other_failed']} warnings"
        gates.add_row(
            row["stage"], _ago(status.now, row["run_time"]), f"{row['met']} of {row['expectations']}", verdict
        )
    if status.held_by is not None:
        gates.add_row(_HELD, "", "", "")
    elif not status.gates:
        unread = "gates" in status.denied
        gates.add_row("(this login cannot read quality)" if unread else "(no gate has run yet)", "", "", "")
    return gates
