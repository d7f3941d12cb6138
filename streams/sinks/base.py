"""What every warehouse sink does: write one batch (rows and offsets) in one transaction.

The loop that fills batches is written once in `streams.consume`; each warehouse has a module here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa

from streams.contract import Rejection, Touchpoint

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


class OffsetConflict(Exception):
    """The stored offsets moved under this loader (another loader or an earlier commit): re-seek."""


class TransientWarehouseError(Exception):
    """The warehouse connection failed mid-batch; the batch can be retried after reconnecting."""


def value_sha256(value: bytes | None) -> str:
    """What identifies a record's value: its SHA-256 (hex), or "null" for a record with no value."""
    return "null" if value is None else hashlib.sha256(value).hexdigest()


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


@dataclass
class Batch:
    """Column-wise rows of one batch, built as records arrive so writes are bulk (Arrow, COPY)."""

    touchpoints: dict[str, list[object]] = field(
        default_factory=lambda: {name: [] for name in TOUCHPOINT_SCHEMA.names}
    )
    quarantine: dict[str, list[object]] = field(
        default_factory=lambda: {name: [] for name in QUARANTINE_SCHEMA.names}
    )
    ranges: dict[tuple[str, int], PartitionRange] = field(default_factory=dict)
    event_ids: set[str] = field(default_factory=set)
    records: int = 0
    size: int = 0  # payload bytes
    duplicates: int = 0

    def add_touchpoint(self, event: Touchpoint, topic: str, partition: int, offset: int) -> None:
        if event.event_id in self.event_ids:
            self.duplicates += 1  # redelivered inside one batch: the warehouse keeps the first
            return
        self.event_ids.add(event.event_id)
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
        columns = self.quarantine
        columns["topic"].append(topic)
        columns["kafka_partition"].append(partition)
        columns["kafka_offset"].append(offset)
        columns["kafka_key"].append(key)
        columns["payload"].append(payload)
        columns["reason"].append(rejection.reason)
        columns["event_id"].append(rejection.event_id)
        columns["event_type"].append(rejection.event_type)

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

    def quarantine_table(self) -> pa.Table:
        return pa.table(self.quarantine, schema=QUARANTINE_SCHEMA)


@dataclass(frozen=True)
class WriteResult:
    """What one committed batch changed in the warehouse."""

    loaded: int
    quarantined: int
    duplicates: int  # already stored, skipped by event_id


class Sink(Protocol):
    """A warehouse that stores batches exactly once, together with the offsets they cover."""

    def setup(self) -> None:
        """Create the raw schema when missing."""

    def stored_offsets(
        self, group: str, partitions: list[tuple[str, int]]
    ) -> dict[tuple[str, int], StoredOffset]:
        """Per partition, the next offset to read, as committed with the data."""
        ...

    def write(self, batch: Batch, group: str, loaded_at: dt.datetime) -> WriteResult:
        """Write rows and advance offsets in ONE transaction; raise OffsetConflict if offsets moved."""
        ...

    def reconnect(self) -> None:
        """Drop and reopen the connection after a transient failure."""

    def close(self) -> None: ...
