"""Ctrl-C while a batch is being written: the loader waits for that write and counts it.

Its totals must equal what the warehouse holds (they are what `journeys ingest` prints), and
the rest loads next time, exactly once.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
import time

import pytest

from journeys import pipeline
from journeys_core.settings import KafkaSettings, LoaderSettings
from streams.consume import Loader
from streams.sinks import open_sink
from streams.sinks.base import Batch, DeadLetter, Sink, StoredOffset, WriteResult
from tests.helpers import load, query


class InterruptingSink:
    """A sink whose second write sends Ctrl-C to the main thread, then commits all the same."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.writes = 0

    def setup(self) -> None:
        self.sink.setup()

    def stored_offsets(
        self, group: str, partitions: list[tuple[str, int]]
    ) -> dict[tuple[str, int], StoredOffset]:
        return self.sink.stored_offsets(group, partitions)

    def write(
        self, batch: Batch, group: str, loaded_at: dt.datetime, dead_letter: DeadLetter | None = None
    ) -> WriteResult:
        self.writes += 1
        if self.writes == 2:
            main = threading.main_thread().ident
            assert main is not None
            signal.pthread_kill(main, signal.SIGINT)
            time.sleep(1.0)  # the main thread takes the interrupt while this write is still in flight
        return self.sink.write(batch, group, loaded_at, dead_letter)

    def reconnect(self) -> None:
        self.sink.reconnect()

    def close(self) -> None:
        self.sink.close()


def test_interrupt_counts_the_batch_being_written(kafka: KafkaSettings, duckdb_url: str) -> None:
    simulated = pipeline.simulate(kafka, pipeline.simulation_config(300, 30, 5))
    settings = LoaderSettings(idle_seconds=1.0, batch_max_seconds=1.0, batch_max_records=200)
    sink = InterruptingSink(open_sink(duckdb_url))
    loader = Loader(kafka, settings, sink)
    # A shell may have started this test run with SIGINT ignored: Python's own handler, for this test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            loader.run()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert loader.stats.interrupted
    assert loader.stats.batches == 2, "the batch being written when interrupted is counted"
    assert [(loader.stats.loaded,)] == query(duckdb_url, "select count(*) from raw.touchpoints")
    assert [(loader.stats.quarantined,)] == query(duckdb_url, "select count(*) from raw.quarantine")
    rest = load(kafka, settings, duckdb_url)
    assert loader.stats.loaded + rest.loaded == simulated.events
    assert query(duckdb_url, "select count(*) from raw.touchpoints") == [(simulated.events,)]
