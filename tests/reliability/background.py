"""A real Loader running in a thread of the test, so a scenario can inject faults while it loads."""

from __future__ import annotations

import threading

from journeys_core.settings import KafkaSettings, LoaderSettings
from streams.consume import Loader
from streams.sinks import open_sink
from tests.production import wait_for


class BackgroundLoader:
    """`journeys ingest --follow` in a thread: start it, wait until it stored N offsets, stop it."""

    def __init__(self, kafka: KafkaSettings, settings: LoaderSettings, url: str) -> None:
        self.loader = Loader(kafka, settings, open_sink(url))
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name="loader", daemon=True)

    def _run(self) -> None:
        try:
            self.loader.run(follow=True)
        except BaseException as error:  # re-raised in the test thread by stop()
            self.errors.append(error)

    def start(self) -> BackgroundLoader:
        self.thread.start()
        return self

    def stored(self) -> int:
        """Records whose offsets the warehouse holds (offsets start at 0 on every partition)."""
        return sum(list(self.loader.positions.values()))

    def wait_until_stored(self, records: int, timeout_s: float = 300) -> None:
        wait_for(
            lambda: self.stored() >= records or bool(self.errors) or not self.thread.is_alive(),
            f"the loader to store {records:,} records",
            timeout_s,
        )

    def stop(self) -> None:
        """Ask it to finish like SIGTERM does; raise what it raised, if anything."""
        self.loader.request_stop()
        self.thread.join(timeout=120)
        assert not self.thread.is_alive(), "the loader did not stop within 120 s of being asked"
        if self.errors:
            raise self.errors[0]
