"""DuckDB sink: Arrow tables inserted in one transaction with the offsets they cover."""

from __future__ import annotations

import datetime as dt

import duckdb

from journeys_core.warehouse import WarehouseUrl, connect_duckdb, raw_ddl
from streams.sinks.base import (
    Batch,
    OffsetConflict,
    StoredOffset,
    WriteResult,
)

_INSERT_TOUCHPOINTS = """
insert into raw.touchpoints
select cast(event_id as uuid), event_type, department, schema_version, occurred_at, source,
       customer_id, email, phone, order_id, cast(attributes as json), topic, kafka_partition,
       kafka_offset, $loaded_at
from batch_touchpoints as batch
where not exists (
    select 1 from raw.touchpoints as stored where stored.event_id = cast(batch.event_id as uuid)
)
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

    def write(self, batch: Batch, group: str, loaded_at: dt.datetime) -> WriteResult:
        con = self.connection
        con.begin()
        try:
            for rng in batch.ranges.values():
                advanced = con.execute(
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
            loaded = quarantined = 0
            if batch.touchpoint_count:
                con.register("batch_touchpoints", batch.touchpoint_table())
                loaded = _count(con.execute(_INSERT_TOUCHPOINTS, {"loaded_at": loaded_at}))
                con.unregister("batch_touchpoints")
            if batch.quarantine_count:
                con.register("batch_quarantine", batch.quarantine_table())
                quarantined = _count(con.execute(_INSERT_QUARANTINE, {"loaded_at": loaded_at}))
                con.unregister("batch_quarantine")
            con.commit()
        except BaseException:
            con.rollback()
            raise
        duplicates = batch.duplicates + batch.touchpoint_count - loaded
        return WriteResult(loaded, quarantined, duplicates)

    def reconnect(self) -> None:
        self.connection.close()
        self.connection = connect_duckdb(self.target, memory_limit=self.memory_limit)

    def close(self) -> None:
        self.connection.close()


def _count(result: duckdb.DuckDBPyConnection) -> int:
    row = result.fetchone()
    return int(row[0]) if row else 0
