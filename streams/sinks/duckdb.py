"""DuckDB sink: Arrow tables inserted in one transaction with the offsets they cover."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from journeys_core.warehouse import WarehouseUrl, connect_duckdb, raw_ddl
from streams.sinks.base import (
    STORED_CONTENT,
    Batch,
    DeadLetter,
    OffsetConflict,
    RowsRefused,
    StoredEvent,
    StoredOffset,
    WriteResult,
    write_refusing,
)

# DuckDB has one writer, so the event_ids read in the batch's transaction are all there are: those
# found are left out of the insert, which needs no anti-join of its own. The search reads only
# event_id (as the anti-join did: one scan per batch); the rest of a stored row is read only for
# the ids found, by a second, filtered scan.
_STORED_IDS = """
select cast(stored.event_id as varchar) from raw.touchpoints as stored
where stored.event_id in (select cast(event_id as uuid) from batch_touchpoints)
"""
_STORED_VERSIONS = f"""
select cast(stored.event_id as varchar), {STORED_CONTENT}, cast(stored.attributes as varchar),
       stored.topic, stored.kafka_partition, stored.kafka_offset
from raw.touchpoints as stored
where stored.event_id = any(cast($ids as uuid[]))
"""
_INSERT_TOUCHPOINTS = """
insert into raw.touchpoints
select cast(event_id as uuid), event_type, department, schema_version, occurred_at, source,
       customer_id, email, phone, order_id, cast(attributes as json), topic, kafka_partition,
       kafka_offset, $loaded_at
from {table}
"""
_INSERT_QUARANTINE = """
insert into raw.quarantine (topic, kafka_partition, kafka_offset, kafka_key, payload, reason,
                            event_id, event_type, quarantined_at)
select topic, kafka_partition, kafka_offset, kafka_key, payload, reason, event_id, event_type,
       $loaded_at
from batch_quarantine
on conflict do nothing
"""
# Compare-and-set: advance only from the offset this batch started at, else another writer won.
_ADVANCE_OFFSET = """
insert into raw.ingest_offsets (consumer_group, topic, kafka_partition, next_offset, updated_at,
                                last_value_sha256)
values ($group, $topic, $partition, $end, $loaded_at, $last_value_sha256)
on conflict (consumer_group, topic, kafka_partition) do update
    set next_offset = excluded.next_offset, updated_at = excluded.updated_at,
        last_value_sha256 = excluded.last_value_sha256
    where ingest_offsets.next_offset = $start
returning next_offset
"""
# What DuckDB raises for a value it cannot hold or a constraint a row breaks.
_REFUSED = (duckdb.DataError, duckdb.IntegrityError, duckdb.InvalidInputException)


class DuckDBSink:
    """Loads into a DuckDB file; DuckDB allows one writing process, so the loader holds it alone."""

    def __init__(self, target: WarehouseUrl, memory_limit: str | None = None) -> None:
        self.target = target
        self.memory_limit = memory_limit
        self.connection: duckdb.DuckDBPyConnection = connect_duckdb(target, memory_limit=memory_limit)

    def setup(self) -> None:
        self.connection.execute(raw_ddl("duckdb"))

    def stored_offsets(
        self, group: str, partitions: list[tuple[str, int]]
    ) -> dict[tuple[str, int], StoredOffset]:
        rows = self.connection.execute(
            "select topic, kafka_partition, next_offset, last_value_sha256 from raw.ingest_offsets "
            "where consumer_group = ?",
            [group],
        ).fetchall()
        wanted = set(partitions)
        return {(t, p): StoredOffset(n, digest) for t, p, n, digest in rows if (t, p) in wanted}

    def write(
        self, batch: Batch, group: str, loaded_at: dt.datetime, dead_letter: DeadLetter | None = None
    ) -> WriteResult:
        return write_refusing(
            batch, lambda: self._write(batch, group, loaded_at, dead_letter), self._probe, dead_letter
        )

    def _write(
        self, batch: Batch, group: str, loaded_at: dt.datetime, dead_letter: DeadLetter | None
    ) -> WriteResult:
        con = self.connection
        con.begin()
        try:
            self._advance(batch, group, loaded_at)
            loaded, stored = self._insert_touchpoints(batch, loaded_at)
            resolution = batch.resolve(stored)
            conflicts = resolution.conflicts if resolution.conflict_count else None
            quarantined = 0
            if batch.quarantine_count or conflicts:
                con.register("batch_quarantine", batch.quarantine_table(conflicts))
                quarantined = _count(con.execute(_INSERT_QUARANTINE, {"loaded_at": loaded_at}))
                con.unregister("batch_quarantine")
            if conflicts and dead_letter is not None:
                dead_letter(conflicts)  # before the commit, as for any rejected record
            con.commit()
        except BaseException:
            con.rollback()
            for name in ("batch_touchpoints", "batch_quarantine"):  # refused inside an aborted transaction
                con.unregister(name)
            raise
        return WriteResult(loaded, quarantined, resolution.duplicates, resolution.conflict_count)

    def _advance(self, batch: Batch, group: str, loaded_at: dt.datetime) -> None:
        for rng in batch.ranges.values():
            advanced = self.connection.execute(
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
            ).fetchall()
            if not advanced:
                raise OffsetConflict(f"{rng.topic}[{rng.partition}] moved past {rng.start}")

    def _insert_touchpoints(self, batch: Batch, loaded_at: dt.datetime) -> tuple[int, list[StoredEvent]]:
        """Insert the batch's events not stored yet; return how many, and the stored versions of the rest."""
        if not batch.touchpoint_count:
            return 0, []
        con = self.connection
        table = batch.touchpoint_table()
        con.register("batch_touchpoints", table)
        ids = [event_id for (event_id,) in con.execute(_STORED_IDS).fetchall()]
        stored: list[StoredEvent] = []
        if ids:
            rows = con.execute(_STORED_VERSIONS, {"ids": ids}).fetchall()
            stored = [StoredEvent.from_row(row) for row in rows]
            known = pa.array(ids, pa.string())
            table = table.filter(pc.invert(pc.is_in(table["event_id"], value_set=known)))
            con.register("batch_touchpoints", table)  # in place of the whole batch
        try:
            insert = _INSERT_TOUCHPOINTS.format(table="batch_touchpoints")
            inserted = _count(con.execute(insert, {"loaded_at": loaded_at}))
        except _REFUSED as error:
            raise RowsRefused(str(error)) from error
        con.unregister("batch_touchpoints")
        return inserted, stored

    def _probe(self, batch: Batch) -> str | None:
        """Insert `batch`'s touchpoints and roll back: DuckDB's message if it refuses them, else None."""
        con = self.connection
        con.begin()
        con.register("probe_touchpoints", batch.touchpoint_table())
        try:
            con.execute(
                _INSERT_TOUCHPOINTS.format(table="probe_touchpoints"), {"loaded_at": dt.datetime.now(dt.UTC)}
            )
        except _REFUSED as error:
            return str(error)
        finally:
            con.rollback()
            con.unregister("probe_touchpoints")
        return None

    def reconnect(self) -> None:
        self.connection.close()
        self.connection = connect_duckdb(self.target, memory_limit=self.memory_limit)

    def close(self) -> None:
        self.connection.close()


def _count(result: duckdb.DuckDBPyConnection) -> int:
    row = result.fetchone()
    return int(row[0]) if row else 0
