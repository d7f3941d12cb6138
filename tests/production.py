"""A production of events with re-deliveries and malformed records, and the check that the
warehouse holds exactly what it must: shared by the loader tests and the fault matrix."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import msgspec

from journeys_core.settings import KafkaSettings
from streams.offsets import log_ends
from streams.produce import Publisher
from tests.events import stream
from tests.helpers import query

BAD_EVERY = 1000  # one malformed record per this many events
DUPLICATE_EVERY = 500  # one re-published event per this many
BAD_RECORD = b'{"event_id": "not-a-uuid", "truncated":'


class Production:
    """Records to publish (events, their re-deliveries, malformed ones) and what they must become."""

    def __init__(self, count: int, seed: int) -> None:
        self.records: list[tuple[str, bytes, bytes]] = []
        self.event_ids: set[str] = set()
        self.bad = 0
        for index, (department, key, value) in enumerate(stream(count, seed=seed)):
            self.records.append((department, key, value))
            self.event_ids.add(msgspec.json.decode(value)["event_id"])
            if index % DUPLICATE_EVERY == 0:
                self.records.append((department, key, value))  # redelivered, same event_id
            if index % BAD_EVERY == 0:
                self.records.append((department, key, BAD_RECORD))
                self.bad += 1
        assert len(self.event_ids) == count


def assert_stored_exactly(url: str, kafka: KafkaSettings, production: Production) -> None:
    """Every produced event once, every malformed record quarantined, offsets at every partition's end."""
    [(rows, distinct)] = query(url, "select count(*), count(distinct event_id) from raw.touchpoints")
    stored = {str(event_id) for (event_id,) in query(url, "select event_id from raw.touchpoints")}
    assert rows == distinct == len(production.event_ids)
    assert stored == production.event_ids
    quarantine = query(url, "select payload, count(*) from raw.quarantine group by payload")
    assert [(bytes(payload), count) for payload, count in quarantine] == [(BAD_RECORD, production.bad)]
    offsets = query(
        url,
        "select topic, kafka_partition, next_offset from raw.ingest_offsets "
        f"where consumer_group = '{kafka.consumer_group}'",
    )
    ends = log_ends(kafka, quiet_seconds=2.0)
    assert sum(ends.values()) == len(production.records)
    assert {(topic, partition): offset for topic, partition, offset in offsets} == ends


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s:.0f} s waiting for {what}"
        time.sleep(0.1)


class PacedProducer(threading.Thread):
    """Publishes records in slices at about `per_second`, holding back the last `held` records
    until `release()`, so that records are still arriving after whatever the test does first."""

    def __init__(self, kafka: KafkaSettings, records: list[tuple[str, bytes, bytes]], held: int) -> None:
        super().__init__(name="producer", daemon=True)
        self.kafka, self.records, self.held = kafka, records, held
        self.released = threading.Event()
        self.errors: list[BaseException] = []

    def release(self) -> None:
        self.released.set()

    def run(self) -> None:
        try:
            publisher = Publisher(self.kafka)
            cut = len(self.records) - self.held
            self._paced(publisher, self.records[:cut])
            if not self.released.wait(timeout=120):
                raise TimeoutError("the test never released the held-back records")
            self._paced(publisher, self.records[cut:])
            publisher.close()
        except BaseException as error:  # re-raised in the test thread
            self.errors.append(error)

    @staticmethod
    def _paced(
        publisher: Publisher, records: list[tuple[str, bytes, bytes]], per_second: float = 2000
    ) -> None:
        started = time.monotonic()
        for start in range(0, len(records), 500):
            for department, key, value in records[start : start + 500]:
                publisher.publish(department, key, value)
            publisher.producer.flush()
            time.sleep(max(0.0, started + (start + 500) / per_second - time.monotonic()))
