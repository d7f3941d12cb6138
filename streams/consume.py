"""The loader: consume touchpoint topics and land them in the warehouse exactly once.

Each batch (bounded by records, bytes and time) goes to the warehouse in one transaction together
with the offsets it covers; the warehouse, not Kafka, is the source of truth for where to resume.
Offsets advance by compare-and-set, so a stale loader (after a rebalance or a lost connection)
can never write a range twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from journeys_core.settings import KafkaSettings, LoaderSettings
from streams.continuity import LastLoaded, check_partitions
from streams.contract import Rejection, decode
from streams.kafka_config import client_options
from streams.offsets import read_partition_ends
from streams.sinks.base import (
    Batch,
    Columns,
    OffsetConflict,
    Sink,
    StoredOffset,
    TransientWarehouseError,
    WriteResult,
)
from streams.topics import (
    admin_client,
    created_topics_note,
    department_prefixes,
    department_topics,
    dlq_topic,
    ensure_topics,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")

_WAREHOUSE_RETRIES = 8
# Offset-store value a batch expects when the warehouse has no row yet for its partition.
NO_STORED_OFFSET = -1
_ASSIGNMENT_TIMEOUT_S = 120.0


class DeadLetterError(Exception):
    """Rejected records could not be written to the DLQ topic; their offsets stay uncommitted."""


@dataclass
class LoadStats:
    """Running totals of one loader process, for progress bars and summaries."""

    consumed: int = 0
    loaded: int = 0
    quarantined: int = 0  # conflicts and refused events among them
    duplicates: int = 0  # redeliveries: an event_id stored already, with the same content
    conflicts: int = 0  # an event_id stored already, with different content: quarantined
    refused: int = 0  # events the warehouse refused for what they hold: quarantined
    batches: int = 0
    offset_conflicts: int = 0  # batches dropped because another loader had stored their offsets
    retries: int = 0
    first_record_at: float | None = None  # monotonic clock, when the first record arrived
    last_commit_at: float | None = None  # monotonic clock, when the last batch was committed
    interrupted: bool = False  # Ctrl-C stopped it; the totals still count every committed batch

    @property
    def committed(self) -> int:
        """Records whose batch was committed: loaded, quarantined or skipped as duplicates."""
        return self.loaded + self.quarantined + self.duplicates

    @property
    def rate(self) -> float:
        """Committed records per second from the first record to the last commit.

        Not from the start: connecting, the partition check and the idle wait before a drain ends
        would halve it. With --follow, quiet spells between records count.
        """
        if self.first_record_at is None or self.last_commit_at is None:
            return 0.0
        busy = self.last_commit_at - self.first_record_at
        return self.committed / busy if busy > 0 else 0.0

    def quarantine_note(self) -> str:
        """What of the quarantined the summary lines name apart: " (including 3 conflicts)", or ""."""
        parts = []
        if self.conflicts:
            parts.append(f"{self.conflicts:,} conflict{'' if self.conflicts == 1 else 's'}")
        if self.refused:
            parts.append(f"{self.refused:,} refused by the warehouse")
        return f" (including {' and '.join(parts)})" if parts else ""


def fit_dead_letter(
    key: bytes | None, payload: bytes | None, limit: int
) -> tuple[bytes | None, bytes | None, str]:
    """Key and payload cut alike to `limit` bytes each, so the DLQ producer always accepts the copy.

    The full bytes stay in raw.quarantine. The third value names what was cut and its original size
    ("key=2097152,value=3145728"), for the `journeys.truncated` header; "" when nothing was.
    A key over the limit could not be dead-lettered before, and stopped the loader on every run.
    """
    cut = []
    if key is not None and len(key) > limit:
        cut.append(f"key={len(key)}")
        key = key[:limit]
    if payload is not None and len(payload) > limit:
        cut.append(f"value={len(payload)}")
        payload = payload[:limit]
    return key, payload, ",".join(cut)


def consumer_options(kafka: KafkaSettings, settings: LoaderSettings) -> dict[str, Any]:
    """The loader's consumer configuration (the throughput benchmark's baseline uses it too)."""
    return {
        **client_options(kafka),
        "group_id": kafka.consumer_group,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": kafka.session_timeout_ms,
        "heartbeat_interval_ms": kafka.heartbeat_interval_ms,
        "max_poll_records": min(settings.batch_max_records, 5000),
        "max_partition_fetch_bytes": max(2 * settings.max_event_bytes, 1024 * 1024),
        "fetch_max_bytes": max(4 * settings.max_event_bytes, 50 * 1024 * 1024),
    }


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loader: Loader) -> None:
        self.loader = loader

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.loader.on_revoked(list(revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.loader.on_assigned(list(assigned))


class Loader:
    """One member of the loader consumer group, writing through one warehouse sink."""

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: LoaderSettings,
        sink: Sink,
        *,
        on_batch: Callable[[LoadStats], None] | None = None,
    ) -> None:
        self.kafka = kafka
        self.settings = settings
        self.sink = sink
        self.on_batch = on_batch
        self.stats = LoadStats()
        self.group = kafka.consumer_group
        self.dlq = dlq_topic(kafka)
        self.positions: dict[TopicPartition, int] = {}  # next offset, as stored in the warehouse
        self.starts: dict[TopicPartition, int] = {}  # where the next batch starts (after in-flight ones)
        self.assigned_once = False
        # Notes from the rebalance listener (network thread), taken by the main loop under a lock.
        self.notes_lock = threading.Lock()
        self.pending: set[TopicPartition] = set()  # assigned, not yet positioned
        self.revoked: set[TopicPartition] = set()
        self.awaiting_assignment = False  # revoked, and the new assignment has not come yet
        self.fetched: dict[TopicPartition, int] = {}  # next offset expected from the client
        self.checked: set[TopicPartition] = set()  # known to hold what the warehouse loaded
        self.stop_requested = False
        self.batch = Batch()
        self.batch_started = time.monotonic()
        self.consumer: KafkaConsumer | None = None
        self.producer: KafkaProducer | None = None
        # One batch is written while the next is polled and validated: the warehouse work
        # (Arrow, DuckDB, COPY) mostly runs outside the GIL, so it overlaps with kafka-python's.
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journeys-writer")
        self.in_flight: tuple[Batch, Future[WriteResult]] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Finish the current batch, commit it and return (what SIGTERM does)."""
        self.stop_requested = True

    def run(self, *, follow: bool = False) -> LoadStats:
        """Load until caught up (or, with `follow`, until asked to stop)."""
        self._with_retries(self.sink.setup)
        self._ensure_topics()
        options = client_options(self.kafka)
        self.producer = KafkaProducer(
            **options,
            acks="all",
            enable_idempotence=True,
            max_request_size=2 * self.settings.max_event_bytes + 64 * 1024,
        )
        self.consumer = KafkaConsumer(**consumer_options(self.kafka, self.settings))
        try:
            self.consumer.subscribe(department_topics(self.kafka), listener=_Rebalance(self))
            self._loop(follow)
            self._flush()
            self._settle()
        except KeyboardInterrupt:
            self.stats.interrupted = True
            self._settle_interrupted()
            raise
        finally:
            self.writer.shutdown(wait=True)  # an in-flight write commits or rolls back, never half
            self.consumer.close(autocommit=False)
            self.producer.close()
            self.sink.close()
        return self.stats

    def _ensure_topics(self) -> None:
        """Create missing topics, and say so: a typo in the topic prefix would otherwise load 0, quietly."""
        admin = admin_client(self.kafka)
        try:
            existing = admin.list_topics()
            created = ensure_topics(self.kafka, admin)
        finally:
            admin.close()
        note = created_topics_note(self.kafka, created, department_prefixes(existing))
        if note is not None:
            # A fresh broker before its first producer is normal; other prefixes suggest a typo.
            log.log(logging.WARNING if note.suspicious else logging.INFO, note.message)

    def _loop(self, follow: bool) -> None:
        assert self.consumer is not None
        idle_since: float | None = None
        deadline = time.monotonic() + _ASSIGNMENT_TIMEOUT_S
        while not self.stop_requested:
            records = self.consumer.poll(timeout_ms=200)
            # Partitions positioned just now: this poll's records for them were fetched from the
            # client's old position (kafka-python keeps it for a partition it is re-assigned), not
            # from the stored offset, so they must not start a batch range at the stored offset.
            positioned = self._apply_rebalance()
            now = dt.datetime.now(dt.UTC)
            max_future = dt.timedelta(seconds=self.settings.max_future_seconds)
            for tp, messages in records.items():
                if tp not in self.starts or tp in self.pending or tp in positioned:
                    continue  # revoked, or fetched before we positioned it
                self._add(tp, messages, now, max_future)
            if self._batch_due(bool(records)):
                self._flush()
            if self.in_flight is not None and self.in_flight[1].done():
                self._settle()  # report a finished write now, not at the next batch
            if records:
                idle_since = None
                continue
            if not self.assigned_once:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"no partitions were assigned within {_ASSIGNMENT_TIMEOUT_S:.0f} s: other "
                        f"members of consumer group {self.group!r} hold them all, or the group is "
                        "stuck (the embedded broker keeps a member that left while the group formed as "
                        "its leader): stop its loaders and delete the group as docs/reliability.md "
                        "shows ('Several loaders in one group'); nothing is lost, the offsets live in "
                        "the warehouse"
                    )
                continue
            idle_since = idle_since or time.monotonic()
            if (
                not follow
                and time.monotonic() - idle_since >= self.settings.idle_seconds
                and self._caught_up()
            ):
                return

    def _add(
        self, tp: TopicPartition, messages: list[Any], now: dt.datetime, max_future: dt.timedelta
    ) -> None:
        expected = self.fetched.get(tp, 0)
        if messages[0].offset < expected:
            # The client can hand back a whole record batch again after a partial read; skip
            # what this partition already gave us.
            messages = [message for message in messages if message.offset >= expected]
            if not messages:
                return
        if self.stats.first_record_at is None:
            self.stats.first_record_at = time.monotonic()  # before decoding: its time is work too
        self.fetched[tp] = messages[-1].offset + 1
        batch = self.batch
        if not batch.records:
            self.batch_started = time.monotonic()
        max_bytes = self.settings.max_event_bytes
        for message in messages:
            value = message.value
            event = decode(value, max_bytes=max_bytes, max_future=max_future, now=now)
            if isinstance(event, Rejection):
                batch.add_rejection(event, tp.topic, tp.partition, message.offset, message.key, value)
            else:
                batch.add_touchpoint(event, tp.topic, tp.partition, message.offset, message.key, value)
            batch.size += len(value) if value else 0
        batch.records += len(messages)
        batch.cover(tp.topic, tp.partition, self.starts[tp], messages[-1].offset + 1, messages[-1].value)
        self.stats.consumed += len(messages)

    def _batch_due(self, got_records: bool) -> bool:
        batch = self.batch
        if not batch.records:
            return False
        return (
            not got_records
            or batch.records >= self.settings.batch_max_records
            or batch.size >= self.settings.batch_max_bytes
            or time.monotonic() - self.batch_started >= self.settings.batch_max_seconds
        )

    def _caught_up(self) -> bool:
        """Nothing waits past what was fetched, by the broker's end and then by reading the tail.

        The broker's end alone can be short (Tansu: one past the first record of the last batch),
        and polls come back empty while a fetch is still on its way, so neither is trusted alone.
        """
        assert self.consumer is not None
        if self.awaiting_assignment or self.pending:
            return False  # mid-rebalance: partitions may be on their way to us
        if not self.positions:
            return True
        fetched = {tp: self.fetched.get(tp, 0) for tp in self.positions}
        try:
            ends = self.consumer.end_offsets(list(fetched))
            if any(fetched[tp] < end for tp, end in ends.items()):
                return False  # records known to wait: no need to read the tails
            tails = read_partition_ends(self.kafka, fetched)
        except KafkaError:
            return False
        return all(
            tails.confirmed((tp.topic, tp.partition)) and tails.ends[(tp.topic, tp.partition)] <= offset
            for tp, offset in fetched.items()
        )

    # -- rebalancing -----------------------------------------------------------------------------
    # kafka-python calls these on its network thread, where blocking client calls are refused:
    # they only take notes, and the main loop acts on them after `poll` returns.

    def on_revoked(self, revoked: list[TopicPartition]) -> None:
        with self.notes_lock:
            self.revoked.update(revoked)
            self.awaiting_assignment = True

    def on_assigned(self, assigned: list[TopicPartition]) -> None:
        with self.notes_lock:
            self.assigned_once = True
            self.awaiting_assignment = False
            self.pending.update(assigned)
            self.revoked.difference_update(assigned)

    def _apply_rebalance(self) -> set[TopicPartition]:
        """Act on the listener's notes; return the partitions (re)positioned at the stored offset."""
        with self.notes_lock:
            revoked, self.revoked = self.revoked, set()
            pending, self.pending = self.pending, set()
        if revoked:
            for tp in revoked:
                self.positions.pop(tp, None)
                self.starts.pop(tp, None)
            touched = {(tp.topic, tp.partition) for tp in revoked}
            if touched & set(self.batch.ranges):
                # Part of the batch now belongs to another loader: drop it and re-read the rest.
                kept = [TopicPartition(t, p) for t, p in self.batch.ranges if (t, p) not in touched]
                self.batch = Batch()
                pending.update(tp for tp in kept if tp in self.starts)
        if not pending:
            return set()
        self._seek_to_stored(sorted(pending))
        return pending

    def _seek_to_stored(self, partitions: list[TopicPartition]) -> None:
        """Resume each partition from the offset stored in the warehouse, else from the beginning."""
        assert self.consumer is not None
        self._settle()  # the in-flight write may move these offsets, and shares the connection
        keys = [(tp.topic, tp.partition) for tp in partitions]
        stored = self._with_retries(lambda: self.sink.stored_offsets(self.group, keys))
        resumed = {
            tp: stored[(tp.topic, tp.partition)] for tp in partitions if (tp.topic, tp.partition) in stored
        }
        self._check_continuity(resumed)
        missing = [tp for tp in partitions if tp not in resumed]
        # An explicit offset, not seek_to_beginning: its lazy reset can land after a fetch and rewind.
        beginnings = self.consumer.beginning_offsets(missing) if missing else {}
        for tp in partitions:
            offset = resumed[tp].next_offset if tp in resumed else None
            self.fetched[tp] = beginnings[tp] if offset is None else offset
            self.consumer.seek(tp, self.fetched[tp])
            self.positions[tp] = NO_STORED_OFFSET if offset is None else offset
            self.starts[tp] = self.positions[tp]

    def _check_continuity(self, resumed: dict[TopicPartition, StoredOffset]) -> None:
        """Stop before loading when a partition lost the records stored from it (re-created topic)."""
        check_partitions(
            self.kafka,
            {
                tp: LastLoaded(stored.next_offset - 1, stored.last_value_sha256)
                for tp, stored in resumed.items()
                if tp not in self.checked and stored.last_value_sha256 is not None
            },
        )
        self.checked.update(resumed)

    # -- writing -------------------------------------------------------------------------------

    def _flush(self) -> None:
        """Seal the current batch and hand it to the writer, once the previous one is stored."""
        batch = self.batch
        if not batch.records:
            return
        self.batch = Batch()
        partitions = [TopicPartition(r.topic, r.partition) for r in batch.ranges.values()]
        if not self._settle():
            # The previous batch lost its offsets, so this one continues from a range we do not own.
            self._seek_to_stored(partitions)
            return
        self._dead_letter(batch.quarantine)
        self.in_flight = (batch, self.writer.submit(self._write, batch))
        for rng in batch.ranges.values():
            self.starts[TopicPartition(rng.topic, rng.partition)] = rng.end

    def _settle(self) -> bool:
        """Wait for the in-flight write; False if its offsets had moved (its partitions are re-read)."""
        if self.in_flight is None:
            return True
        batch, future = self.in_flight
        try:
            result = future.result()  # Ctrl-C while waiting leaves it in flight, for run() to count
        except OffsetConflict as conflict:
            self.in_flight = None
            # Someone else already stored (part of) this range: drop ours, resume from theirs.
            log.warning("offsets moved under this loader (%s); re-reading from the warehouse", conflict)
            self.stats.offset_conflicts += 1
            self._seek_to_stored([TopicPartition(r.topic, r.partition) for r in batch.ranges.values()])
            return False
        except Exception:
            self.in_flight = None
            raise
        self.in_flight = None
        self._count(batch, result)
        return True

    def _settle_interrupted(self) -> None:
        """After Ctrl-C: wait for the in-flight write to commit or roll back, and count it if it committed."""
        if self.in_flight is None:
            return
        batch, future = self.in_flight
        self.in_flight = None
        try:
            result = future.result()
        except Exception as error:  # rolled back with its offsets: the next run reads it again
            log.warning("the batch being written when interrupted was not stored (%s)", error)
            return
        self._count(batch, result, mirror=False)  # the consumer may have been stopped mid-call

    def _count(self, batch: Batch, result: WriteResult, *, mirror: bool = True) -> None:
        """Record a committed batch: its offsets, the totals, the Kafka mirror and the progress line."""
        for rng in batch.ranges.values():
            self.positions[TopicPartition(rng.topic, rng.partition)] = rng.end
        self.stats.loaded += result.loaded
        self.stats.quarantined += result.quarantined
        self.stats.duplicates += result.duplicates
        self.stats.conflicts += result.conflicts
        self.stats.refused += result.refused
        self.stats.batches += 1
        self.stats.last_commit_at = time.monotonic()
        log.info(
            "committed batch %d: %d loaded, %d quarantined, %d duplicates",
            self.stats.batches,
            result.loaded,
            result.quarantined,
            result.duplicates,
        )
        if result.conflicts:
            log.warning(
                "batch %d: quarantined %d events that reuse a stored event_id with different content "
                "(see `journeys quarantine list`)",
                self.stats.batches,
                result.conflicts,
            )
        if mirror:
            self._commit_to_kafka(batch)
        if self.on_batch is not None:
            self.on_batch(self.stats)

    def _write(self, batch: Batch) -> WriteResult:
        return self._with_retries(
            lambda: self.sink.write(batch, self.group, dt.datetime.now(dt.UTC), self._dead_letter)
        )

    def _with_retries(self, action: Callable[[], _T]) -> _T:
        """Run a warehouse action, reconnecting with backoff when the connection drops."""
        delay = 0.5
        for attempt in range(1, _WAREHOUSE_RETRIES + 1):
            try:
                return action()
            except TransientWarehouseError as error:
                if attempt == _WAREHOUSE_RETRIES:
                    raise
                self.stats.retries += 1
                log.warning("warehouse write failed (%s); retry %d in %.1f s", error, attempt, delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
                try:
                    self.sink.reconnect()
                except Exception as reconnect_error:  # the next attempt reports it again
                    log.warning("reconnect failed: %s", reconnect_error)
        raise AssertionError("unreachable")

    def _dead_letter(self, columns: Columns) -> None:
        """Copy rejected records (quarantine columns) to the DLQ topic before their offsets can be
        committed. The writer thread calls it too, for conflicts it finds, while the main thread waits
        for that write before it sends any more."""
        if not columns["topic"]:
            return
        assert self.producer is not None
        limit = self.settings.max_event_bytes
        futures: list[Any] = []
        try:
            self._send_dead_letters(columns, limit, futures)
            self.producer.flush(timeout=30)
            for future in futures:
                future.get(timeout=30)
        except KafkaError as error:
            raise DeadLetterError(
                f"cannot write rejected records to {self.dlq} ({error}); stopping without "
                "committing their offsets"
            ) from error

    def _send_dead_letters(self, columns: Columns, limit: int, futures: list[Any]) -> None:
        assert self.producer is not None
        for topic, partition, offset, key, payload, reason in zip(
            columns["topic"],
            columns["kafka_partition"],
            columns["kafka_offset"],
            columns["kafka_key"],
            columns["payload"],
            columns["reason"],
            strict=True,
        ):
            headers = [
                ("journeys.reason", str(reason).encode()),
                ("journeys.source", f"{topic}/{partition}/{offset}".encode()),
            ]
            key, payload, truncated = fit_dead_letter(key, payload, limit)
            if truncated:
                headers.append(("journeys.truncated", truncated.encode()))
            futures.append(self.producer.send(self.dlq, key=key, value=payload, headers=headers))

    def _commit_to_kafka(self, batch: Batch) -> None:
        """Mirror the stored offsets into Kafka so standard tools show lag; never relied upon."""
        assert self.consumer is not None
        offsets = {
            TopicPartition(r.topic, r.partition): OffsetAndMetadata(r.end, "", -1)
            for r in batch.ranges.values()
        }
        try:
            self.consumer.commit_async(offsets)
        except KafkaError as error:
            log.debug("kafka offset commit skipped: %s", error)
