"""PostgreSQL sink: COPY into session temp tables, then one transaction moves rows and offsets."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg

from journeys_core.warehouse import WarehouseUrl, connect_postgres, raw_ddl
from streams.sinks.base import (
    QUARANTINE_SCHEMA,
    STORED_CONTENT,
    TOUCHPOINT_SCHEMA,
    Batch,
    Columns,
    DeadLetter,
    OffsetConflict,
    RowsRefused,
    StoredEvent,
    StoredOffset,
    TransientWarehouseError,
    WriteResult,
    write_refusing,
)

_TEMP_TABLES = """
create temp table if not exists batch_touchpoints (
    event_id text, event_type text, department text, schema_version integer,
    occurred_at timestamptz, source text, customer_id text, email text, phone text,
    order_id text, attributes text, topic text, kafka_partition integer, kafka_offset bigint
) on commit delete rows;
create temp table if not exists batch_quarantine (
    topic text, kafka_partition integer, kafka_offset bigint, kafka_key bytea, payload bytea,
    reason text, event_id text, event_type text
) on commit delete rows;
"""
_INSERT_TOUCHPOINTS = """
insert into raw.touchpoints
select event_id::uuid, event_type, department, schema_version, occurred_at, source, customer_id,
       email, phone, order_id, attributes::jsonb, topic, kafka_partition, kafka_offset, %(loaded_at)s
from batch_touchpoints
on conflict (event_id) do nothing
"""
# Run only when the insert skipped rows: the stored versions of the batch's event_ids, but for the
# rows just inserted (and a re-read of the same record), known by where they were read from. By the
# primary key: `= any(array)` keeps to the index whatever the planner guesses of the temp table.
_STORED_VERSIONS = f"""
select stored.event_id::text, {STORED_CONTENT}, stored.attributes::text,
       stored.topic, stored.kafka_partition, stored.kafka_offset
from raw.touchpoints as stored
join batch_touchpoints as batch on stored.event_id = batch.event_id::uuid
where stored.event_id = any(array(select event_id::uuid from batch_touchpoints))
  and (stored.topic, stored.kafka_partition, stored.kafka_offset)
      <> (batch.topic, batch.kafka_partition, batch.kafka_offset)
"""
_INSERT_QUARANTINE = """
insert into raw.quarantine (topic, kafka_partition, kafka_offset, kafka_key, payload, reason,
                            event_id, event_type, quarantined_at)
select topic, kafka_partition, kafka_offset, kafka_key, payload, reason, event_id, event_type,
       %(loaded_at)s
from batch_quarantine
on conflict do nothing
"""
# Compare-and-set: advance only from the offset this batch started at, else another writer won.
_ADVANCE_OFFSET = """
insert into raw.ingest_offsets (consumer_group, topic, kafka_partition, next_offset, updated_at,
                                last_value_sha256)
values (%(group)s, %(topic)s, %(partition)s, %(end)s, %(loaded_at)s, %(last_value_sha256)s)
on conflict (consumer_group, topic, kafka_partition) do update
    set next_offset = excluded.next_offset, updated_at = excluded.updated_at,
        last_value_sha256 = excluded.last_value_sha256
    where raw.ingest_offsets.next_offset = %(start)s
"""


class PostgresSink:
    """Loads into PostgreSQL; several loaders may share a consumer group, offsets fence them."""

    def __init__(self, target: WarehouseUrl) -> None:
        self.target = target
        self.connection: psycopg.Connection[Any] = connect_postgres(target)

    def setup(self) -> None:
        try:
            with self.connection.transaction():
                # Concurrent loaders may race to create the schema; serialise them.
                self.connection.execute("select pg_advisory_xact_lock(hashtext('journeys raw ddl'))")
                self.connection.execute(raw_ddl("postgresql"))
        except psycopg.OperationalError as error:  # a lost connection: reconnect and set up again
            raise TransientWarehouseError(str(error).strip()) from error

    def reconnect(self) -> None:
        try:
            self.connection.close()
        finally:
            self.connection = connect_postgres(self.target)

    def stored_offsets(
        self, group: str, partitions: list[tuple[str, int]]
    ) -> dict[tuple[str, int], StoredOffset]:
        try:
            with self.connection.transaction():
                rows = self.connection.execute(
                    "select topic, kafka_partition, next_offset, last_value_sha256 from raw.ingest_offsets "
                    "where consumer_group = %s",
                    [group],
                ).fetchall()
        except psycopg.OperationalError as error:  # a lost connection: reconnect and read again
            raise TransientWarehouseError(str(error).strip()) from error
        wanted = set(partitions)
        return {(t, p): StoredOffset(n, digest) for t, p, n, digest in rows if (t, p) in wanted}

    def write(
        self, batch: Batch, group: str, loaded_at: dt.datetime, dead_letter: DeadLetter | None = None
    ) -> WriteResult:
        try:
            return write_refusing(
                batch, lambda: self._write(batch, group, loaded_at, dead_letter), self._probe, dead_letter
            )
        except psycopg.OperationalError as error:
            raise TransientWarehouseError(str(error).strip()) from error

    def _write(
        self, batch: Batch, group: str, loaded_at: dt.datetime, dead_letter: DeadLetter | None
    ) -> WriteResult:
        con = self.connection
        quarantined = 0
        with con.transaction(), con.cursor() as cur:
            cur.execute(_TEMP_TABLES)
            for rng in batch.ranges.values():
                cur.execute(
                    _ADVANCE_OFFSET,
                    {
                        "group": group,
                        "topic": rng.topic,
                        "partition": rng.partition,
                        "start": rng.start,
                        "end": rng.end,
                        "loaded_at": loaded_at,
                        "last_value_sha256": rng.last_value_sha256,
                    },
                )
                if cur.rowcount != 1:
                    raise OffsetConflict(f"{rng.topic}[{rng.partition}] moved past {rng.start}")
            loaded, stored = _insert_touchpoints(cur, batch, loaded_at)
            resolution = batch.resolve(stored)
            conflicts = resolution.conflicts
            if batch.quarantine_count or resolution.conflict_count:
                for columns in (batch.quarantine, conflicts):
                    _copy(cur, "batch_quarantine", QUARANTINE_SCHEMA.names, columns)
                cur.execute(_INSERT_QUARANTINE, {"loaded_at": loaded_at})
                quarantined = cur.rowcount
            if resolution.conflict_count and dead_letter is not None:
                dead_letter(conflicts)  # before the commit, as for any rejected record
        # Rows skipped for an event_id stored from the same offset are re-reads: not in `stored`.
        rereads = batch.touchpoint_count - loaded - len(stored)
        return WriteResult(loaded, quarantined, resolution.duplicates + rereads, resolution.conflict_count)

    def _probe(self, batch: Batch) -> str | None:
        """Insert `batch`'s touchpoints and roll back: PostgreSQL's message if it refuses them, else None."""
        try:
            with self.connection.transaction(), self.connection.cursor() as cur:
                cur.execute(_TEMP_TABLES)
                _insert_touchpoints(cur, batch, dt.datetime.now(dt.UTC), lookup=False)
                raise psycopg.Rollback
        except RowsRefused as refused:
            return str(refused)
        return None

    def close(self) -> None:
        self.connection.close()


# What PostgreSQL (or psycopg, for a NUL) raises for a value it cannot hold or a constraint a row breaks.
_REFUSED = (psycopg.DataError, psycopg.IntegrityError)


def _insert_touchpoints(
    cur: psycopg.Cursor[Any], batch: Batch, loaded_at: dt.datetime, *, lookup: bool = True
) -> tuple[int, list[StoredEvent]]:
    """Insert the batch's events not stored yet; return how many, and the stored versions of the rest."""
    if not batch.touchpoint_count:
        return 0, []
    try:
        _copy(cur, "batch_touchpoints", TOUCHPOINT_SCHEMA.names, batch.touchpoints)
        cur.execute(_INSERT_TOUCHPOINTS, {"loaded_at": loaded_at})
    except _REFUSED as error:
        # The first line only: PostgreSQL's detail quotes the failing row, emails and phones included.
        raise RowsRefused(error.diag.message_primary or str(error)) from error
    loaded = cur.rowcount
    if loaded == batch.touchpoint_count or not lookup:
        return loaded, []
    cur.execute(_STORED_VERSIONS)
    return loaded, [StoredEvent.from_row(row) for row in cur.fetchall()]


def _copy(cur: psycopg.Cursor[Any], table: str, names: list[str], columns: Columns) -> None:
    with cur.copy(f"copy {table} ({', '.join(names)}) from stdin") as copy:
        for row in zip(*(columns[name] for name in names), strict=True):
            copy.write_row(row)
