"""Topic names and their creation: one topic per department plus the dead-letter topic."""

from __future__ import annotations

import difflib
import logging
import time
from collections.abc import Iterable
from typing import NamedTuple

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from journeys_core.settings import KafkaSettings
from streams.contract import DEPARTMENTS
from streams.kafka_config import client_options

log = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """No Kafka broker answered at the configured address."""


def department_topics(settings: KafkaSettings) -> list[str]:
    return [settings.topic(department) for department in DEPARTMENTS]


def dlq_topic(settings: KafkaSettings) -> str:
    return settings.topic("dlq")


def admin_client(settings: KafkaSettings, *, attempts: int = 3, timeout_s: float = 5.0) -> KafkaAdminClient:
    """Connect with bounded retries and backoff, then fail with a sentence that says what to do."""
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            return KafkaAdminClient(**client_options(settings), bootstrap_timeout_ms=int(timeout_s * 1000))
        except KafkaError:
            if attempt == attempts:
                break
            # Said while waiting, so a slow broker start does not look like a hang.
            log.warning(
                "Kafka at %s did not answer (attempt %d of %d); retrying in %.1f s",
                settings.bootstrap_servers,
                attempt,
                attempts,
                delay,
            )
            time.sleep(delay)
            delay *= 2
    host, _, port = settings.bootstrap_servers.partition(",")[0].rpartition(":")
    # The embedded broker listens on loopback only, on the port it is given.
    start = f"journeys broker --port {port}" if host in ("127.0.0.1", "localhost") else "journeys broker"
    raise BrokerUnavailable(
        f"cannot reach Kafka at {settings.bootstrap_servers} after {attempts} attempts: start one "
        f"with `{start}`, or set JOURNEYS_KAFKA_BOOTSTRAP_SERVERS to a running broker"
    )


def department_prefixes(topics: Iterable[str]) -> list[str]:
    """Prefixes with a topic for every department: "touchpoints" when touchpoints.sales etc. exist."""
    names = set(topics)
    candidates = {name.rsplit(".", 1)[0] for name in names if "." in name}
    return sorted(p for p in candidates if all(f"{p}.{d}" in names for d in DEPARTMENTS))


class CreatedTopics(NamedTuple):
    """What to say after the loader created department topics, and whether it looks like a typo."""

    message: str
    suspicious: bool  # the broker has department topics under other prefixes


def created_topics_note(
    settings: KafkaSettings, created: list[str], prefixes: list[str]
) -> CreatedTopics | None:
    """What to say when the loader had to create department topics: a typo'd prefix loads nothing."""
    new = [name for name in department_topics(settings) if name in created]
    if not new:
        return None
    what = (
        f"topic {new[0]} did not exist, so it was"
        if len(new) == 1
        else f"topics {', '.join(new)} did not exist, so they were"
    )
    said = f"{what} created empty: nothing was published there yet"
    others = [p for p in prefixes if p != settings.topic_prefix]
    if not others:
        return CreatedTopics(said, suspicious=False)
    # The closest spellings first: the one meant is most likely among them.
    ranked = sorted(
        others, key=lambda p: (-difflib.SequenceMatcher(None, settings.topic_prefix, p).ratio(), p)
    )
    shown = ", ".join(ranked[:5]) + (f" and {len(ranked) - 5} more" if len(ranked) > 5 else "")
    return CreatedTopics(
        f"{said}. If you meant topics that hold events, set JOURNEYS_KAFKA_TOPIC_PREFIX (now "
        f"{settings.topic_prefix!r}) to a prefix this broker has department topics under: {shown}",
        suspicious=True,
    )


def ensure_topics(settings: KafkaSettings, admin: KafkaAdminClient | None = None) -> list[str]:
    """Create the department and DLQ topics that are missing; return the ones created."""
    own = admin is None
    client = admin or admin_client(settings)
    try:
        wanted = [*department_topics(settings), dlq_topic(settings)]
        existing = set(client.list_topics())
        missing = [name for name in wanted if name not in existing]
        created: list[str] = []
        for name in missing:
            try:
                client.create_topics([NewTopic(name, settings.partitions, 1)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass  # another process created it between list and create
        return created
    finally:
        if own:
            client.close()
