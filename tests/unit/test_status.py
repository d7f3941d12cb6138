"""`journeys status` judges freshness as dbt does, says how long ago things happened and how many
distinct records the quarantine's rows are."""

from __future__ import annotations

import datetime as dt
import re

import yaml
from rich.console import Console

from journeys import status
from tests.helpers import ROOT


def test_freshness_limits_are_the_dbt_source_freshness() -> None:
    sources = yaml.safe_load((ROOT / "dbt_project/models/staging/_staging__sources.yml").read_text())
    [raw] = [source for source in sources["sources"] if source["name"] == "raw"]
    freshness = raw["freshness"]
    assert freshness["warn_after"] == {"count": status.FRESH_WARN.total_seconds() / 3600, "period": "hour"}
    assert freshness["error_after"] == {"count": status.FRESH_ERROR.total_seconds() / 3600, "period": "hour"}


def test_freshness_state_treats_naive_timestamps_as_utc() -> None:
    now = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    view = status.Status(warehouse="w", broker="b", consumer_group="g", now=now)
    assert view.freshness_state(dt.datetime(2026, 11, 28, 11)) == "ok"
    assert view.freshness_state(dt.datetime(2026, 11, 28, 3, tzinfo=dt.UTC)) == "warn"
    assert view.freshness_state(dt.datetime(2026, 11, 26, 12)) == "error"


def test_ago_reads_at_a_glance() -> None:
    now = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    assert status._ago(now, None) == "never"
    assert status._ago(now, now - dt.timedelta(seconds=12)) == "12 s ago"
    assert status._ago(now, now - dt.timedelta(minutes=90)) == "1.5 h ago"
    assert status._ago(now, dt.datetime(2026, 11, 25, 12)) == "3.0 d ago"


def test_a_topic_that_ends_before_what_was_loaded_is_flagged_not_shown_as_caught_up() -> None:
    now = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    view = status.Status(warehouse="w", broker="b", consumer_group="g", now=now)
    view.lags = [
        status.TopicLag("t.sales", end=40, stored=300, updated_at=now, replaced=True),
        status.TopicLag("t.support", end=90, stored=90, updated_at=now),
    ]
    console = Console(width=160, record=True)
    console.print(status.render(view))
    printed = console.export_text()
    assert "re-created?" in printed
    assert "journeys ingest says what to do" in printed


def test_the_quarantine_count_says_how_many_distinct_records_its_copies_are() -> None:
    view = status.Status(warehouse="w", broker="b", consumer_group="g")
    view.counts = {"raw.quarantine": 334}
    view.quarantine_distinct = 167
    console = Console(width=160, record=True)
    console.print(status.render(view))
    assert re.search(r"raw\.quarantine \(waiting\)\s*│\s*334 \(167 distinct\)", console.export_text())
    view.quarantine_distinct = 334
    console = Console(width=160, record=True)
    console.print(status.render(view))
    assert "distinct" not in console.export_text()  # no copies: the count says it all
