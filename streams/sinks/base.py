"""What every warehouse sink does: write one batch (rows and offsets) in one transaction.

The loop that fills batches is written once in `streams.consume`; each warehouse has a module here.

Redeliveries: an event_id stored already (or met earlier in the batch) is kept as it was. A later
record of it with the same content is a redelivery, skipped silently; one with different content
is a conflict, quarantined (raw.quarantine and the DLQ) with a reason naming the stored event.
Content is compared here, in Python, on the same canonical form for both warehouses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import pyarrow as pa

from streams.contract import Rejection, Touchpoint

log = logging.getLogger(__name__)

TOUCHPOINT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("department", pa.string()),
        ("schema_version", pa.int32()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("source", pa.string()),
        ("customer_id", pa.string()),
        ("email", pa.string()),
        ("phone", pa.string()),
        ("order_id", pa.string()),
        ("attributes", pa.string()),
        ("topic", pa.string()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
    ]
)
QUARANTINE_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
        ("kafka_key", pa.binary()),
        ("payload", pa.binary()),
        ("reason", pa.string()),
        ("event_id", pa.string()),
        ("event_type", pa.string()),
    ]
)
# What an event says, as opposed to where it was read from: what a redelivery must repeat.
# (department follows from event_type.)
CONTENT_FIELDS = (
    "event_type",
    "schema_version",
    "occurred_at",
    "source",
    "customer_id",
    "email",
    "phone",
    "order_id",
    "attributes",
)
# The SQL that reads a stored event's content back, in CONTENT_FIELDS order; attributes as JSON text.
STORED_CONTENT = ", ".join(f"stored.{name}" for name in CONTENT_FIELDS[:-1])

Columns = dict[str, list[Any]]
# Copies quarantine rows to the DLQ topic; raises (and so rolls the batch back) when it cannot.
DeadLetter = Callable[[Columns], None]


class OffsetConflict(Exception):
    """The stored offsets moved under this loader (another loader or an earlier commit): re-seek."""


class TransientWarehouseError(Exception):
    """The warehouse connection failed mid-batch; the batch can be retried after reconnecting."""


class RowsRefused(Exception):
    """The warehouse refused the batch's touchpoints for what they hold (a value it cannot store, a
    constraint): the contract did not foresee it, so the rows at fault are looked for and quarantined."""


def value_sha256(value: bytes | None) -> str:
    """What identifies a record's value: its SHA-256 (hex), or "null" for a record with no value."""
    return "null" if value is None else hashlib.sha256(value).hexdigest()


def quarantine_columns() -> Columns:
    return {name: [] for name in QUARANTINE_SCHEMA.names}


def touchpoint_values(event: Touchpoint, names: Sequence[str]) -> list[Any]:
    """The event's values of the raw columns `names`, attributes as the JSON text it came with."""
    return [event.attributes.decode() if name == "attributes" else getattr(event, name) for name in names]


def content(values: Sequence[Any]) -> tuple[Any, ...]:
    """An event's content (CONTENT_FIELDS order, attributes as JSON text) in the form both warehouses
    give back alike: occurred_at in UTC, attributes parsed with exact numbers and key order ignored.

    DuckDB keeps JSON text as written and PostgreSQL's jsonb rewrites it (key order, spacing,
    1e10 as 10000000000), so the text itself cannot be compared.
    """
    *head, attributes = values
    head[2] = head[2].astimezone(dt.UTC)
    try:
        parsed = json.loads(attributes, parse_float=Decimal, parse_int=Decimal)
    except (ValueError, RecursionError):  # stored before the contract refused such JSON
        parsed = attributes
    return (*head, parsed)


@dataclass(frozen=True)
class StoredEvent:
    """An event as the warehouse holds it: its content, and where it was read from."""

    event_id: str
    content: tuple[Any, ...]
    topic: str
    partition: int
    offset: int

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> StoredEvent:
        """From (event_id, *CONTENT_FIELDS, topic, kafka_partition, kafka_offset)."""
        event_id, *values, topic, partition, offset = row
        return cls(str(event_id), content(values), topic, int(partition), int(offset))


def conflict_reason(kept: StoredEvent, new: tuple[Any, ...]) -> str:
    """Why a record was quarantined as a conflict, in words that say what to do (values quoted, so
    `journeys quarantine list` groups all conflicts under one reason)."""
    differ = ", ".join(
        name for name, old, now in zip(CONTENT_FIELDS, kept.content, new, strict=True) if old != now
    )
    return (
        f"conflicts with stored event '{kept.event_id}' (read from "
        f"'{kept.topic}[{kept.partition}]@{kept.offset}'): same event_id, different content "
        f"('{differ}' differ); the stored one is kept: give this event an event_id of its own, or "
        "tombstone or correct the stored one with `journeys events tombstone|correct`"
    )


def refusal_reason(message: str) -> str:
    """Why a record the warehouse refused was quarantined: the warehouse's own words, then what to do."""
    first_line = " ".join(message.strip().splitlines()[:1])[:300]
    return (
        f"the warehouse refused this event ({first_line}): fix the event, or the warehouse's rule, "
        "then load it with `journeys quarantine replay`"
    )


@dataclass(frozen=True)
class StoredOffset:
    """Where a consumer group resumes a partition, and what the record before it held."""

    next_offset: int
    last_value_sha256: str | None  # None in rows stored before loaders kept it


@dataclass(frozen=True)
class PartitionRange:
    """Offsets [start, end) of one partition that a batch covers; `start` is what must be stored."""

    topic: str
    partition: int
    start: int
    end: int
    last_value_sha256: str  # of the record at end - 1, stored with the offsets


@dataclass(frozen=True)
class Repeat:
    """A later record of an event_id the batch already holds; what it comes to waits for the write."""

    event: Touchpoint
    topic: str
    partition: int
    offset: int
    key: bytes | None
    payload: bytes | None

    def content(self) -> tuple[Any, ...]:
        return content(touchpoint_values(self.event, CONTENT_FIELDS))


@dataclass
class Resolution:
    """What the batch's event_ids met again come to, once the stored versions are known."""

    duplicates: int = 0  # same content: redeliveries, skipped silently
    conflicts: Columns = field(default_factory=quarantine_columns)  # different content: quarantined

    @property
    def conflict_count(self) -> int:
        return len(self.conflicts["topic"])


@dataclass
class Batch:
    """Column-wise rows of one batch, built as records arrive so writes are bulk (Arrow, COPY)."""

    touchpoints: Columns = field(default_factory=lambda: {name: [] for name in TOUCHPOINT_SCHEMA.names})
    quarantine: Columns = field(default_factory=quarantine_columns)
    ranges: dict[tuple[str, int], PartitionRange] = field(default_factory=dict)
    event_ids: dict[str, int] = field(default_factory=dict)  # event_id -> its row in touchpoints
    # The record of each touchpoint row, kept to quarantine it should it conflict with a stored one.
    keys: list[bytes | None] = field(default_factory=list)
    payloads: list[bytes | None] = field(default_factory=list)
    repeats: list[Repeat] = field(default_factory=list)
    records: int = 0
    size: int = 0  # payload bytes

    def add_touchpoint(
        self,
        event: Touchpoint,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None = None,
        payload: bytes | None = None,
    ) -> None:
        if event.event_id in self.event_ids:
            # Met again inside one batch: the first stays; the write decides what this one is.
            self.repeats.append(Repeat(event, topic, partition, offset, key, payload))
            return
        self.event_ids[event.event_id] = len(self.keys)
        self.keys.append(key)
        self.payloads.append(payload)
        columns = self.touchpoints
        columns["event_id"].append(event.event_id)
        columns["event_type"].append(event.event_type)
        columns["department"].append(event.department)
        columns["schema_version"].append(event.schema_version)
        columns["occurred_at"].append(event.occurred_at)
        columns["source"].append(event.source)
        columns["customer_id"].append(event.customer_id)
        columns["email"].append(event.email)
        columns["phone"].append(event.phone)
        columns["order_id"].append(event.order_id)
        columns["attributes"].append(event.attributes.decode())
        columns["topic"].append(topic)
        columns["kafka_partition"].append(partition)
        columns["kafka_offset"].append(offset)

    def add_rejection(
        self,
        rejection: Rejection,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        payload: bytes | None,
    ) -> None:
        _quarantine(
            self.quarantine,
            (
                topic,
                partition,
                offset,
                key,
                payload,
                rejection.reason,
                rejection.event_id,
                rejection.event_type,
            ),
        )

    def cover(self, topic: str, partition: int, start: int, end: int, last_value: bytes | None) -> None:
        """Record that offsets up to `end` of this partition are in the batch (`last_value` at end - 1)."""
        previous = self.ranges.get((topic, partition))
        first = previous.start if previous else start
        self.ranges[(topic, partition)] = PartitionRange(
            topic, partition, first, end, value_sha256(last_value)
        )

    @property
    def touchpoint_count(self) -> int:
        return len(self.touchpoints["event_id"])

    @property
    def quarantine_count(self) -> int:
        return len(self.quarantine["topic"])

    def touchpoint_table(self) -> pa.Table:
        return pa.table(self.touchpoints, schema=TOUCHPOINT_SCHEMA)

    def quarantine_table(self, extra: Columns | None = None) -> pa.Table:
        """The quarantine rows, and `extra` ones (conflicts found while writing) after them."""
        if extra is None:
            return pa.table(self.quarantine, schema=QUARANTINE_SCHEMA)
        return pa.table(
            {name: self.quarantine[name] + extra[name] for name in QUARANTINE_SCHEMA.names},
            schema=QUARANTINE_SCHEMA,
        )

    # -- redeliveries ------------------------------------------------------------------------

    def stored_event(self, row: int) -> StoredEvent:
        """Touchpoint row `row` as it will be stored."""
        columns = self.touchpoints
        return StoredEvent(
            columns["event_id"][row],
            content([columns[name][row] for name in CONTENT_FIELDS]),
            columns["topic"][row],
            columns["kafka_partition"][row],
            columns["kafka_offset"][row],
        )

    def resolve(self, stored: list[StoredEvent]) -> Resolution:
        """Sort the event_ids met again into redeliveries and conflicts.

        `stored`: the stored versions of the batch's event_ids (PostgreSQL may leave out the ones read
        from the same offset, a re-read of the same record). The stored version wins over the batch's
        row; within the batch the first record read wins over later ones.
        """
        resolution = Resolution()
        kept: dict[str, StoredEvent] = {}
        for version in stored:
            kept[version.event_id] = version
            row = self.event_ids[version.event_id]
            mine = self.stored_event(row)
            same_record = (version.topic, version.partition, version.offset) == (
                mine.topic,
                mine.partition,
                mine.offset,
            )
            if same_record or version.content == mine.content:
                resolution.duplicates += 1
                continue
            columns = self.touchpoints
            _quarantine(
                resolution.conflicts,
                (
                    mine.topic,
                    mine.partition,
                    mine.offset,
                    self.keys[row],
                    self.payloads[row],
                    conflict_reason(version, mine.content),
                    version.event_id,
                    columns["event_type"][row],
                ),
            )
        for repeat in self.repeats:
            event_id = repeat.event.event_id
            version = kept.get(event_id) or self.stored_event(self.event_ids[event_id])
            new = repeat.content()
            if new == version.content:
                resolution.duplicates += 1
                continue
            _quarantine(
                resolution.conflicts,
                (
                    repeat.topic,
                    repeat.partition,
                    repeat.offset,
                    repeat.key,
                    repeat.payload,
                    conflict_reason(version, new),
                    event_id,
                    repeat.event.event_type,
                ),
            )
        return resolution

    # -- rows the warehouse refused ------------------------------------------------------------

    def subset(self, rows: Sequence[int]) -> Batch:
        """A batch of touchpoint rows `rows` only, to try on the warehouse."""
        part = Batch()
        part.touchpoints = {name: [values[row] for row in rows] for name, values in self.touchpoints.items()}
        return part

    def refuse(self, refused: dict[int, str]) -> Columns:
        """Move touchpoint rows the warehouse refused (row -> its message) to quarantine.

        Later records of a refused event_id go with it. Returns the rows added to quarantine.
        """
        added = quarantine_columns()
        columns = self.touchpoints
        reasons = {columns["event_id"][row]: refusal_reason(message) for row, message in refused.items()}
        for row in sorted(refused):
            event_id = columns["event_id"][row]
            _quarantine(
                added,
                (
                    columns["topic"][row],
                    columns["kafka_partition"][row],
                    columns["kafka_offset"][row],
                    self.keys[row],
                    self.payloads[row],
                    reasons[event_id],
                    event_id,
                    columns["event_type"][row],
                ),
            )
        for repeat in self.repeats:
            if repeat.event.event_id in reasons:
                _quarantine(
                    added,
                    (
                        repeat.topic,
                        repeat.partition,
                        repeat.offset,
                        repeat.key,
                        repeat.payload,
                        reasons[repeat.event.event_id],
                        repeat.event.event_id,
                        repeat.event.event_type,
                    ),
                )
        self.repeats = [r for r in self.repeats if r.event.event_id not in reasons]
        kept = [row for row in range(self.touchpoint_count) if row not in refused]
        self.touchpoints = {name: [values[row] for row in kept] for name, values in columns.items()}
        self.keys = [self.keys[row] for row in kept]
        self.payloads = [self.payloads[row] for row in kept]
        self.event_ids = {event_id: row for row, event_id in enumerate(self.touchpoints["event_id"])}
        for name, values in added.items():
            self.quarantine[name].extend(values)
        return added


def _quarantine(columns: Columns, row: Sequence[Any]) -> None:
    for name, value in zip(QUARANTINE_SCHEMA.names, row, strict=True):
        columns[name].append(value)


def find_refused(batch: Batch, probe: Callable[[Batch], str | None]) -> dict[int, str]:
    """The touchpoint rows the warehouse refuses on their own, with its message, found by bisection.

    `probe` inserts a batch's touchpoints, rolls back, and returns the warehouse's message when it
    refuses them. About 2 log2(n) probes per refused row; empty when no row is refused on its own.
    """
    found: dict[int, str] = {}
    suspects = [list(range(batch.touchpoint_count))]
    while suspects:
        rows = suspects.pop()
        middle = len(rows) // 2
        for part in (rows[:middle], rows[middle:]) if middle else (rows,):
            message = probe(batch.subset(part))
            if message is None:
                continue
            if len(part) == 1:
                found[part[0]] = message
            else:
                suspects.append(part)
    return found


@dataclass(frozen=True)
class WriteResult:
    """What one committed batch changed in the warehouse."""

    loaded: int
    quarantined: int  # rows added to raw.quarantine, conflicts and refused rows among them
    duplicates: int  # redeliveries (same event_id, same content), skipped
    conflicts: int = 0  # same event_id as a stored event, different content: quarantined
    refused: int = 0  # refused by the warehouse for what they hold: quarantined


def write_refusing(
    batch: Batch,
    write: Callable[[], WriteResult],
    probe: Callable[[Batch], str | None],
    dead_letter: DeadLetter | None,
) -> WriteResult:
    """`write` the batch; should the warehouse refuse its rows, quarantine the ones at fault and
    write the rest, with the offsets: exactly once still holds, and the loader goes on.

    `write` rolls back before it raises RowsRefused. When no row is refused on its own, it raises.
    """
    try:
        return write()
    except RowsRefused:
        refused = find_refused(batch, probe)
        if not refused:
            raise
    added = batch.refuse(refused)
    for event_id, reason in zip(added["event_id"], added["reason"], strict=True):
        log.warning("quarantined event %s: %s", event_id, reason)
    if dead_letter is not None:
        dead_letter(added)
    result = write()
    return WriteResult(
        result.loaded, result.quarantined, result.duplicates, result.conflicts, len(added["topic"])
    )


class Sink(Protocol):
    """A warehouse that stores batches exactly once, together with the offsets they cover."""

    def setup(self) -> None:
        """Create the raw schema when missing."""

    def stored_offsets(
        self, group: str, partitions: list[tuple[str, int]]
    ) -> dict[tuple[str, int], StoredOffset]:
        """Per partition, the next offset to read, as committed with the data."""
        ...

    def write(
        self, batch: Batch, group: str, loaded_at: dt.datetime, dead_letter: DeadLetter | None = None
    ) -> WriteResult:
        """Write rows and advance offsets in ONE transaction; raise OffsetConflict if offsets moved.

        Conflicting redeliveries found while writing are quarantined in it and handed to
        `dead_letter` before it commits; rows the warehouse refuses are quarantined likewise.
        """
        ...

    def reconnect(self) -> None:
        """Drop and reopen the connection after a transient failure."""

    def close(self) -> None: ...
