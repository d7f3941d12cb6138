"""Publishing touchpoints: an idempotent, acks=all producer, and `produce FILE.jsonl` on top of it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaProducer
from kafka.errors import KafkaError

from journeys_core.settings import KafkaSettings
from streams.contract import Rejection, decode
from streams.kafka_config import client_options
from streams.topics import admin_client


class PublishError(Exception):
    """The broker did not acknowledge records; the message says how many and why."""


class Publisher:
    """Keyed, idempotent publishing to the department topics; `close` waits for every ack."""

    def __init__(self, settings: KafkaSettings, *, max_request_bytes: int = 4 * 1024 * 1024) -> None:
        self.settings = settings
        # An unreachable broker fails here in one sentence, its retries said aloud; the producer
        # alone would wait 30 s in silence and end in a traceback.
        admin_client(settings).close()
        self.producer = KafkaProducer(
            **client_options(settings),
            acks="all",
            enable_idempotence=True,
            linger_ms=20,
            batch_size=512 * 1024,
            max_request_size=max_request_bytes,
            retries=2147483647,
        )
        self.sent = 0
        self.acknowledged = 0  # counted from the broker's acks: exact even when publishing was interrupted
        self.acks_lock = threading.Lock()
        self.failed: list[str] = []

    def publish(self, department: str, key: bytes | None, value: bytes) -> None:
        future = self.producer.send(self.settings.topic(department), key=key, value=value)
        future.add_callback(self._acked)
        future.add_errback(lambda error: self.failed.append(str(error)))
        self.sent += 1

    def _acked(self, _metadata: object) -> None:
        # The I/O thread calls this, or `publish` itself when the ack came first.
        with self.acks_lock:
            self.acknowledged += 1

    def close_interrupted(self, timeout_s: float = 5.0) -> int:
        """After Ctrl-C: give what was sent a moment to be acknowledged, then drop the rest.

        Returns the records the broker acknowledged. Bounded, because the same Ctrl-C may have
        stopped the broker (a terminal signals the whole process group).
        """
        with contextlib.suppress(KafkaError):
            self.producer.flush(timeout=timeout_s)
        with contextlib.suppress(KafkaError):  # unacknowledged records left: the I/O thread is a daemon
            self.producer.close(timeout=0)
        return self.acknowledged

    def close(self, timeout_s: float = 120.0) -> int:
        """Flush and close; raise if any record was not acknowledged. Returns records sent."""
        try:
            self.producer.flush(timeout=timeout_s)
        except KafkaError as error:
            raise PublishError(f"the broker did not acknowledge every record: {error}") from error
        finally:
            self.producer.close()
        if self.failed:
            raise PublishError(
                f"{len(self.failed)} of {self.sent} records were not acknowledged; first error: "
                f"{self.failed[0]}"
            )
        return self.sent


@dataclass
class FileReport:
    """What `produce FILE.jsonl` published, and the lines it refused with their reasons."""

    published: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)


def produce_lines(
    lines: Iterable[bytes],
    publisher: Publisher,
    *,
    on_line: Callable[[int], None] | None = None,
) -> FileReport:
    """Validate each line against the contract; publish good ones keyed by order or customer."""
    report = FileReport()
    for number, line in enumerate(lines, start=1):
        if on_line is not None:
            on_line(number)
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        event = decode(line)
        if isinstance(event, Rejection):
            report.bad_lines.append((number, event.reason))
            continue
        key = event.order_id or event.customer_id or event.email or event.phone or ""
        publisher.publish(event.department, key.encode(), line)
        report.published += 1
    return report


def produce_file(path: Path, settings: KafkaSettings) -> FileReport:
    publisher = Publisher(settings)
    with path.open("rb") as handle:
        report = produce_lines(handle, publisher)
    publisher.close()
    return report
