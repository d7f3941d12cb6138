"""The one line every fault scenario ends with: produced / loaded / quarantined / lost / duplicated.

Counted from the warehouse against what the test produced, event id by event id and Kafka offset by
Kafka offset, so a scenario passes only if nothing is missing and nothing is stored twice.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from journeys_core.settings import KafkaSettings
from tests.helpers import query
from tests.production import Production, assert_stored_exactly

# Every ledger of this session, for the summary the folder's conftest prints at the end.
TAKEN: list[Ledger] = []


@dataclass(frozen=True)
class Ledger:
    scenario: str
    produced: int  # records published, re-deliveries and malformed ones included
    loaded: int  # rows in raw.touchpoints
    quarantined: int  # rows in raw.quarantine
    lost: int  # expected events or rejected records the warehouse does not hold
    duplicated: int  # rows beyond one per event id, or per quarantined Kafka offset
    unexpected: int = 0  # stored event ids that were never produced (not printed: always 0)

    def line(self) -> str:
        return (
            f"[{self.scenario}] produced={self.produced:,} loaded={self.loaded:,} "
            f"quarantined={self.quarantined:,} lost={self.lost:,} duplicated={self.duplicated:,}"
        )


def take(scenario: str, url: str, *, produced: int, event_ids: Collection[str], rejected: int) -> Ledger:
    """Count what `url` holds against the events (`event_ids`) and malformed records (`rejected`) sent."""
    stored = [str(event_id) for (event_id,) in query(url, "select event_id from raw.touchpoints")]
    unique = set(stored)
    [(quarantined, quarantined_offsets)] = query(
        url,
        "select count(*), count(distinct (topic, kafka_partition, kafka_offset)) from raw.quarantine",
    )
    expected = set(event_ids)
    lost = len(expected - unique) + max(0, rejected - int(quarantined_offsets))
    duplicated = (len(stored) - len(unique)) + (int(quarantined) - int(quarantined_offsets))
    ledger = Ledger(
        scenario, produced, len(stored), int(quarantined), lost, duplicated, len(unique - expected)
    )
    report(ledger)
    return ledger


def report(ledger: Ledger) -> None:
    print(ledger.line())
    TAKEN.append(ledger)


def assert_exact(ledger: Ledger) -> None:
    """Nothing lost, nothing twice, and nothing stored that was never expected."""
    assert (ledger.lost, ledger.duplicated, ledger.unexpected) == (0, 0, 0), ledger.line()


def assert_production_stored(scenario: str, url: str, kafka: KafkaSettings, production: Production) -> None:
    """The scenario's exact ledger for one production, and stored offsets at every partition's end."""
    assert_exact(
        take(
            scenario,
            url,
            produced=len(production.records),
            event_ids=production.event_ids,
            rejected=production.bad,
        )
    )
    assert_stored_exactly(url, kafka, production)
