"""The loader's rate counts the time it had records, not its start-up or its idle wait."""

from __future__ import annotations

from journeys.cli import summary_line
from streams.consume import LoadStats


def test_rate_runs_from_the_first_record_to_the_last_commit() -> None:
    stats = LoadStats(consumed=3100, loaded=2980, quarantined=10, duplicates=10, batches=2)
    stats.first_record_at, stats.last_commit_at = 104.0, 106.0  # 100 records still in flight
    assert stats.rate == 1500.0
    assert summary_line(stats).endswith("in 2 batches (1,500 records/s)")


def test_nothing_consumed_has_no_rate() -> None:
    stats = LoadStats()
    assert stats.rate == 0.0
    assert summary_line(stats).endswith("skipped 0 duplicates, in 0 batches")


def test_conflicts_and_refused_events_are_named_apart_from_duplicates() -> None:
    stats = LoadStats(loaded=100, quarantined=12, duplicates=5, conflicts=3, refused=1, batches=1)
    assert "quarantined [bold]12[/] (including 3 conflicts and 1 refused by the warehouse), " in (
        summary_line(stats)
    )
    assert LoadStats(quarantined=1, conflicts=1).quarantine_note() == " (including 1 conflict)"
    assert LoadStats(quarantined=4).quarantine_note() == ""
