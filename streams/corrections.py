"""A way out of a bad event that was already loaded: tombstone it, or correct it in place.

Each change is one transaction on raw.touchpoints with an audit row in raw.event_corrections:
who, when, why, the row as it was (JSON) and the corrected event as sent. The next dbt run
re-parses the event in staging and rebuilds the identity graph and the facts from staging, so the
marts are as if the event had arrived corrected (or never).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from journeys_core.warehouse import connect_duckdb, connect_postgres, parse_url, raw_ddl
from streams.contract import Rejection, decode
from streams.sinks.base import CONTENT_FIELDS, TOUCHPOINT_SCHEMA, content, touchpoint_values

Action = Literal["tombstone", "correct"]
# What a correction may change: everything the event says; where it was read stays.
_EVENT_COLUMNS = ("department", *CONTENT_FIELDS)
_ALL_COLUMNS = (*TOUCHPOINT_SCHEMA.names, "loaded_at")

_TOMBSTONED = (
    "select corrected_at, corrected_by, reason from raw.event_corrections "
    "where event_id = {marker} and action = 'tombstone' order by corrected_at desc limit 1"
)


class CorrectionError(Exception):
    """The change cannot be made; the message says what to do instead."""


@dataclass(frozen=True)
class Correction:
    """What one tombstone or correction did."""

    event_id: str
    action: Action
    event_type: str  # as it was loaded
    department: str  # as it was loaded


def tombstone(url: str, event_id: str, reason: str) -> Correction:
    """Remove a loaded event from raw.touchpoints, keeping it in the audit row."""
    return _change(url, _event_id(event_id), "tombstone", reason, None)


def correct(url: str, payload: bytes, reason: str, *, max_future: dt.timedelta) -> Correction:
    """Replace a loaded event with `payload`, a corrected event of the same event_id.

    The corrected event must pass the contract, as any event the loader takes.
    """
    event = decode(payload, max_future=max_future)
    if isinstance(event, Rejection):
        raise CorrectionError(f"the corrected event does not pass the contract: {event.reason}")
    values = dict(zip(_EVENT_COLUMNS, touchpoint_values(event, _EVENT_COLUMNS), strict=True))
    return _change(url, _event_id(event.event_id), "correct", reason, values)


def _missing(event_id: str, tombstoned: tuple[Any, ...] | None) -> str:
    if tombstoned is not None:
        when, who, why = tombstoned
        return (
            f"{event_id} was tombstoned by {who} at {when:%Y-%m-%d %H:%M} UTC ({why}): nothing left to change"
        )
    return (
        f"no loaded event has the id {event_id}: `journeys quarantine list` shows refused records, "
        "which `journeys quarantine replay` loads after a fix"
    )


def _content(row: dict[str, Any]) -> tuple[Any, ...]:
    """What the event says, compared as the loader compares a redelivery (psycopg reads jsonb as a dict)."""
    attributes = row["attributes"]
    text = attributes if isinstance(attributes, str) else json.dumps(attributes)
    return content([*(row[name] for name in CONTENT_FIELDS[:-1]), text])


def _event_id(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise CorrectionError(
            f"{text!r} is not an event id: give the event_id (a UUID) of a loaded event"
        ) from None


def _change(
    url: str, event_id: str, action: Action, reason: str, values: dict[str, Any] | None
) -> Correction:
    if not reason.strip():
        raise CorrectionError(
            "say why with --reason: the audit row keeps it for whoever reads the marts next"
        )
    target = parse_url(url)
    marker = "?" if target.kind == "duckdb" else "%s"
    select = f"select {', '.join(_ALL_COLUMNS)} from raw.touchpoints where event_id = {marker}"
    if target.kind == "postgresql":
        select += " for update"  # a loader or another correction waits for this one
    if values is None:
        change = f"delete from raw.touchpoints where event_id = {marker}"
        parameters: list[Any] = [event_id]
    else:
        assignments = ", ".join(
            f"{name} = cast({marker} as {'json' if target.kind == 'duckdb' else 'jsonb'})"
            if name == "attributes"
            else f"{name} = {marker}"
            for name in _EVENT_COLUMNS
        )
        change = f"update raw.touchpoints set {assignments} where event_id = {marker}"
        parameters = [values[name] for name in _EVENT_COLUMNS] + [event_id]
    audit = (
        "insert into raw.event_corrections (event_id, action, reason, corrected_by, corrected_at, "
        f"original, corrected) values ({', '.join([marker] * 5)}, {marker}, {marker})"
    )
    corrected = None if values is None else json.dumps(values, default=str, ensure_ascii=False)

    def apply(execute: Any, fetch_one: Any) -> Correction:
        row = fetch_one(select, [event_id])
        if row is None:
            raise CorrectionError(
                _missing(event_id, fetch_one(_TOMBSTONED.format(marker=marker), [event_id]))
            )
        original = dict(zip(_ALL_COLUMNS, row, strict=True))
        if values is not None and _content(values) == _content(original):
            raise CorrectionError(
                f"the corrected event is the same as the loaded {event_id}: nothing to change"
            )
        execute(change, parameters)
        execute(
            audit,
            [
                event_id,
                action,
                reason.strip(),
                getpass.getuser(),
                dt.datetime.now(dt.UTC),
                json.dumps(original, default=str, ensure_ascii=False),
                corrected,
            ],
        )
        return Correction(event_id, action, str(original["event_type"]), str(original["department"]))

    if target.kind == "duckdb":
        with connect_duckdb(target) as duck:
            duck.execute(raw_ddl("duckdb"))
            duck.begin()
            try:
                done = apply(duck.execute, lambda sql, args: duck.execute(sql, args).fetchone())
                duck.commit()
            except BaseException:
                duck.rollback()
                raise
            return done
    with connect_postgres(target) as pg:
        with pg.transaction():
            pg.execute(raw_ddl("postgresql"))
        with pg.transaction():
            return apply(pg.execute, lambda sql, args: pg.execute(sql, args).fetchone())
