"""Sizes of the fault scenarios: bounded for CI, full for `make reliability` (JOURNEYS_RELIABILITY_SCALE)."""

from __future__ import annotations

import os
from dataclasses import dataclass

SCALE = os.environ.get("JOURNEYS_RELIABILITY_SCALE", "ci")


@dataclass(frozen=True)
class Sizes:
    """How hard each scenario pushes; CI's bounded run keeps the whole matrix within a few minutes."""

    kill_events: int  # events loaded while the loader is SIGKILLed `kills` times
    kills: int
    kill_batch_records: int  # small batches: many commits, so kills land between them too
    kill_session_timeout_ms: int  # a killed member holds its partitions this long (Kafka's default: 45 s)
    pause_events: int  # events produced and loaded while the broker is paused
    pause_seconds: float  # how long the broker stays SIGSTOPped
    postgres_events: int  # events loaded while PostgreSQL backends die and the server restarts
    members_events: int  # events two loaders of one group share before one is SIGKILLed or both stop


SIZES = {
    "ci": Sizes(
        kill_events=100_000,
        kills=10,
        kill_batch_records=2000,
        kill_session_timeout_ms=2000,
        pause_events=30_000,
        pause_seconds=8.0,
        postgres_events=40_000,
        members_events=12_000,
    ),
    "full": Sizes(
        kill_events=1_000_000,
        kills=10,
        kill_batch_records=10_000,
        kill_session_timeout_ms=6000,
        pause_events=200_000,
        pause_seconds=20.0,
        postgres_events=200_000,
        members_events=200_000,
    ),
}
