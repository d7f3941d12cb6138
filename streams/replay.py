"""Replaying quarantined records: re-validate them (after a contract fix, or with corrected
payloads) and load those that now pass into raw.touchpoints, exactly once, in one transaction.

A replayed record stays in raw.quarantine, marked with `replayed_at` and the event id it loaded
as, so a second replay skips it; an event id already in raw.touchpoints is not loaded again.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pyarrow as pa

from journeys_core.privacy import refuse_development_key
from journeys_core.settings import LoaderSettings, PrivacySettings
from journeys_core.warehouse import (
    WarehouseUrl,
    connect_duckdb,
    connect_postgres,
    parse_url,
    raw_ddl,
)
from streams.contract import Rejection, decode
from streams.quarantine import QuarantineError, filters, require_quarantine
from streams.sinks.base import TOUCHPOINT_SCHEMA, Batch

Key = tuple[str, int, int]  # topic, partition, offset

CORRECTIONS_FORMAT = """\
One JSON object per line, naming a quarantined record by where it came from and giving the
corrected event either as JSON ("event") or as the exact record text ("payload"):

    {"topic": "touchpoints.sales", "partition": 0, "offset": 17, "event": {"event_id": "...", ...}}
    {"topic": "touchpoints.sales", "partition": 0, "offset": 18, "payload": "{\\"event_id\\": ...}"}

Only the records named are replayed; blank lines and lines starting with # are skipped."""

_MARKS = pa.schema(
    [
        ("topic", pa.string()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
        ("replayed_event_id", pa.string()),
    ]
)
_REASONS = pa.schema(
    [
        ("topic", pa.string()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
        ("reason", pa.string()),
        ("event_id", pa.string()),
        ("event_type", pa.string()),
    ]
)


@dataclass(frozen=True)
class ReplayResult:
    """What one replay did; with `dry_run` nothing of it was kept."""

    examined: int  # quarantined records re-validated
    loaded: int  # now in raw.touchpoints
    already_loaded: int  # passed, but their event id was in raw.touchpoints already
    still_quarantined: int
    reasons_changed: int  # still refused, for a different reason than before
    unmatched: tuple[Key, ...] = ()  # corrections naming no record waiting in quarantine
    dry_run: bool = False


@dataclass
class _Plan:
    batch: Batch = field(default_factory=Batch)
    marks: dict[str, list[Any]] = field(default_factory=lambda: {n: [] for n in _MARKS.names})
    reasons: dict[str, list[Any]] = field(default_factory=lambda: {n: [] for n in _REASONS.names})
    examined: int = 0
    still_quarantined: int = 0


def read_corrections(path: Path) -> dict[Key, bytes]:
    """Corrected payloads keyed by (topic, partition, offset); see CORRECTIONS_FORMAT."""
    corrections: dict[Key, bytes] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise QuarantineError(f"cannot read the corrections file {path}: {error}") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path} line {number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise QuarantineError(f"{where} is not JSON ({error.msg}): {CORRECTIONS_HINT}") from error
        if not isinstance(item, dict):
            raise QuarantineError(f"{where} is not a JSON object: {CORRECTIONS_HINT}")
        topic, partition, offset = item.get("topic"), item.get("partition"), item.get("offset")
        if not isinstance(topic, str) or not _is_count(partition) or not _is_count(offset):
            raise QuarantineError(
                f'{where} needs "topic" (text), "partition" and "offset" (integers): {CORRECTIONS_HINT}'
            )
        if ("event" in item) == ("payload" in item):
            raise QuarantineError(f'{where} needs exactly one of "event" or "payload": {CORRECTIONS_HINT}')
        if "event" in item:
            payload = msgspec.json.encode(item["event"])
        elif isinstance(item["payload"], str):
            payload = item["payload"].encode("utf-8")
        else:
            raise QuarantineError(f'{where}: "payload" must be the record\'s text: {CORRECTIONS_HINT}')
        assert isinstance(partition, int) and isinstance(offset, int)
        key = (topic, partition, offset)
        if key in corrections:
            raise QuarantineError(f"{where} corrects {topic}[{partition}]@{offset} a second time")
        corrections[key] = payload
    return corrections


CORRECTIONS_HINT = "see `journeys quarantine replay --help` for the corrections format"


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def replay(
    url: str,
    *,
    loader: LoaderSettings | None = None,
    privacy: PrivacySettings | None = None,
    corrections: dict[Key, bytes] | None = None,
    reason: str | None = None,
    topic: str | None = None,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> ReplayResult:
    """Re-validate records waiting in quarantine and load those that pass, in one transaction.

    With `corrections`, only the records they name are replayed, each with its corrected
    payload; otherwise every waiting record that matches `reason` and `topic` is, as stored.
    """
    target = parse_url(url)
    refuse_development_key(target, privacy or PrivacySettings(), "quarantine replay")
    loader = loader or LoaderSettings()
    now = now or dt.datetime.now(dt.UTC)
    if target.kind == "duckdb":
        return _replay_duckdb(target, loader, corrections, reason, topic, dry_run, now)
    return _replay_postgres(target, loader, corrections, reason, topic, dry_run, now)


_SELECT = (
    "select topic, kafka_partition, kafka_offset, payload, reason, event_id, event_type "
    "from raw.quarantine where replayed_at is null{where} order by topic, kafka_partition, kafka_offset"
)


def _plan(
    rows: list[tuple[Any, ...]],
    loader: LoaderSettings,
    corrections: dict[Key, bytes] | None,
    now: dt.datetime,
) -> tuple[_Plan, tuple[Key, ...]]:
    """Decide, record by record, what the replay does; nothing is written here."""
    plan = _Plan()
    max_future = dt.timedelta(seconds=loader.max_future_seconds)
    seen: set[Key] = set()
    for topic, partition, offset, payload, old_reason, old_id, old_type in rows:
        assert isinstance(partition, int) and isinstance(offset, int)
        key = (topic, partition, offset)
        if corrections is not None:
            if key not in corrections:
                continue
            seen.add(key)
            value: bytes | None = corrections[key]
        else:
            value = None if payload is None else bytes(payload)
        plan.examined += 1
        event = decode(value, max_bytes=loader.max_event_bytes, max_future=max_future, now=now)
        if isinstance(event, Rejection):
            plan.still_quarantined += 1
            new_reason = event.reason if corrections is None else f"after correction: {event.reason}"
            if (new_reason, event.event_id, event.event_type) != (old_reason, old_id, old_type):
                for name, item in zip(
                    _REASONS.names, (*key, new_reason, event.event_id, event.event_type), strict=True
                ):
                    plan.reasons[name].append(item)
            continue
        plan.batch.add_touchpoint(event, topic, int(partition), int(offset))
        for name, item in zip(_MARKS.names, (*key, event.event_id), strict=True):
            plan.marks[name].append(item)
    unmatched = tuple(sorted(set(corrections) - seen)) if corrections is not None else ()
    return plan, unmatched


def _result(plan: _Plan, loaded: int, unmatched: tuple[Key, ...], dry_run: bool) -> ReplayResult:
    return ReplayResult(
        examined=plan.examined,
        loaded=loaded,
        already_loaded=len(plan.marks["kafka_offset"]) - loaded,
        still_quarantined=plan.still_quarantined,
        reasons_changed=len(plan.reasons["kafka_offset"]),
        unmatched=unmatched,
        dry_run=dry_run,
    )


# Both warehouses mark and re-reason quarantined rows with the same SQL; only the placeholder for
# the time differs ($now in DuckDB, %(now)s in psycopg).
_MARK_SQL = """
update raw.quarantine as q set replayed_at = {now}, replayed_event_id = m.replayed_event_id
from replay_marks as m
where q.topic = m.topic and q.kafka_partition = m.kafka_partition and q.kafka_offset = m.kafka_offset
"""
_REASONS_SQL = """
update raw.quarantine as q set reason = r.reason, event_id = r.event_id, event_type = r.event_type
from replay_reasons as r
where q.topic = r.topic and q.kafka_partition = r.kafka_partition and q.kafka_offset = r.kafka_offset
"""


# -- DuckDB ------------------------------------------------------------------------------------

_DUCKDB_INSERT = """
insert into raw.touchpoints
select cast(event_id as uuid), event_type, department, schema_version, occurred_at, source,
       customer_id, email, phone, order_id, cast(attributes as json), topic, kafka_partition,
       kafka_offset, $now
from replay_touchpoints as replayed
where not exists (
    select 1 from raw.touchpoints as stored where stored.event_id = cast(replayed.event_id as uuid)
)
"""


def _replay_duckdb(
    target: WarehouseUrl,
    loader: LoaderSettings,
    corrections: dict[Key, bytes] | None,
    reason: str | None,
    topic: str | None,
    dry_run: bool,
    now: dt.datetime,
) -> ReplayResult:
    assert target.path is not None
    if not target.path.exists():
        raise QuarantineError(
            f"the DuckDB warehouse {target.path} does not exist: load events first with `journeys ingest`"
        )
    with connect_duckdb(target, memory_limit=loader.duckdb_memory_limit) as con:
        require_quarantine(target, con)
        con.execute(raw_ddl("duckdb"))  # adds the replay columns to older warehouses
        where, params = filters(target, reason, topic)
        con.begin()
        try:
            rows = con.execute(_SELECT.format(where=where), params).fetchall()
            plan, unmatched = _plan(rows, loader, corrections, now)
            loaded = 0
            if plan.batch.touchpoint_count:
                con.register("replay_touchpoints", plan.batch.touchpoint_table())
                found = con.execute(_DUCKDB_INSERT, {"now": now}).fetchone()
                loaded = int(found[0]) if found else 0
                con.unregister("replay_touchpoints")
            if plan.marks["kafka_offset"]:
                con.register("replay_marks", pa.table(plan.marks, schema=_MARKS))
                con.execute(_MARK_SQL.format(now="$now"), {"now": now})
                con.unregister("replay_marks")
            if plan.reasons["kafka_offset"]:
                con.register("replay_reasons", pa.table(plan.reasons, schema=_REASONS))
                con.execute(_REASONS_SQL)
                con.unregister("replay_reasons")
            if dry_run:
                con.rollback()
            else:
                con.commit()
        except BaseException:
            con.rollback()
            raise
    return _result(plan, loaded, unmatched, dry_run)


# -- PostgreSQL --------------------------------------------------------------------------------

_PG_TEMP = """
create temp table replay_touchpoints (
    event_id text, event_type text, department text, schema_version integer,
    occurred_at timestamptz, source text, customer_id text, email text, phone text,
    order_id text, attributes text, topic text, kafka_partition integer, kafka_offset bigint
) on commit drop;
create temp table replay_marks (
    topic text, kafka_partition integer, kafka_offset bigint, replayed_event_id text
) on commit drop;
create temp table replay_reasons (
    topic text, kafka_partition integer, kafka_offset bigint, reason text, event_id text,
    event_type text
) on commit drop;
"""
_PG_INSERT = """
insert into raw.touchpoints
select event_id::uuid, event_type, department, schema_version, occurred_at, source, customer_id,
       email, phone, order_id, attributes::jsonb, topic, kafka_partition, kafka_offset, %(now)s
from replay_touchpoints
on conflict (event_id) do nothing
"""


def _replay_postgres(
    target: WarehouseUrl,
    loader: LoaderSettings,
    corrections: dict[Key, bytes] | None,
    reason: str | None,
    topic: str | None,
    dry_run: bool,
    now: dt.datetime,
) -> ReplayResult:
    with connect_postgres(target) as con:
        require_quarantine(target, con)
        with con.transaction():
            con.execute("select pg_advisory_xact_lock(hashtext('journeys raw ddl'))")
            con.execute(raw_ddl("postgresql"))  # adds the replay columns to older warehouses
        where, params = filters(target, reason, topic)
        with con.transaction(), con.cursor() as cur:
            # Row locks: a concurrent replay waits, then finds these records already replayed.
            cur.execute(_SELECT.format(where=where) + " for update", params)
            plan, unmatched = _plan(cur.fetchall(), loader, corrections, now)
            cur.execute(_PG_TEMP)
            loaded = 0
            if plan.batch.touchpoint_count:
                _copy(cur, "replay_touchpoints", TOUCHPOINT_SCHEMA.names, plan.batch.touchpoints)
                cur.execute(_PG_INSERT, {"now": now})
                loaded = cur.rowcount
            if plan.marks["kafka_offset"]:
                _copy(cur, "replay_marks", _MARKS.names, plan.marks)
                cur.execute(_MARK_SQL.format(now="%(now)s"), {"now": now})
            if plan.reasons["kafka_offset"]:
                _copy(cur, "replay_reasons", _REASONS.names, plan.reasons)
                cur.execute(_REASONS_SQL)
            if dry_run:
                raise psycopg.Rollback  # leaves the transaction block, undoing all of it
    return _result(plan, loaded, unmatched, dry_run)


def _copy(cur: Any, table: str, names: list[str], columns: dict[str, list[Any]]) -> None:
    with cur.copy(f"copy {table} ({', '.join(names)}) from stdin") as copy:
        for row in zip(*(columns[name] for name in names), strict=True):
            copy.write_row(row)
