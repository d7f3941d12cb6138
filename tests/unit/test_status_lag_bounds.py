"""`journeys status` lag from partition ends that may be short: never "loaded past Kafka", never a false 0."""

from __future__ import annotations

import datetime as dt

from rich.console import Console

from journeys import status
from streams.offsets import LogEnds

NOW = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
SALES = "t.sales"


def _printed(lags: list[status.TopicLag]) -> str:
    view = status.Status(warehouse="w", broker="b", consumer_group="g", now=NOW)
    view.lags = lags
    console = Console(width=160, record=True)
    console.print(status.render(view))
    return console.export_text()


def _cells(printed: str, topic: str) -> list[str]:
    """The cells of the topic's row in the flow table: topic, in Kafka, loaded up to, lag, last commit."""
    [row] = [line for line in printed.splitlines() if topic in line]
    return [cell.strip() for cell in row.split("│")[1:-1]]


def test_a_tail_read_past_the_brokers_end_counts_the_records_waiting_in_the_last_batch() -> None:
    # Tansu said 11; the tail read found 15.
    tails = LogEnds({(SALES, 0): 15}, read={(SALES, 0)})
    [lag] = status.topic_lags([SALES], {(SALES, 0): 10}, {SALES: NOW}, tails)
    assert (lag.end, lag.stored, lag.lag, lag.unconfirmed, lag.replaced) == (15, 10, 5, False, False)


def test_an_unconfirmed_short_end_is_a_lower_bound_not_below_what_was_loaded() -> None:
    tails = LogEnds({(SALES, 0): 11})  # the broker's end; its last records did not come back
    [lag] = status.topic_lags([SALES], {(SALES, 0): 15}, {SALES: NOW}, tails)
    assert (lag.end, lag.stored, lag.lag, lag.unconfirmed, lag.replaced) == (15, 15, 0, True, False)
    printed = _printed([lag])
    assert _cells(printed, SALES)[1:4] == ["≥ 15", "15", "?"]  # not "lag 0"
    assert "lower bound" in printed


def test_an_unconfirmed_end_above_what_was_loaded_shows_at_least_that_lag() -> None:
    tails = LogEnds({(SALES, 0): 40})
    [lag] = status.topic_lags([SALES], {(SALES, 0): 10}, {}, tails)
    assert (lag.end, lag.lag, lag.unconfirmed) == (40, 30, True)
    assert _cells(_printed([lag]), SALES)[1:4] == ["≥ 40", "10", "≥ 30"]


def test_one_partitions_short_end_does_not_hide_anothers_lag() -> None:
    # Partition 0 loaded past the broker's (short, unread) end; partition 1 is 10 behind.
    tails = LogEnds({(SALES, 0): 11, (SALES, 1): 20}, read={(SALES, 1)})
    [lag] = status.topic_lags([SALES], {(SALES, 0): 15, (SALES, 1): 10}, {}, tails)
    assert (lag.end, lag.stored, lag.lag) == (35, 25, 10)  # summed over the topic, 31 - 25 said 6


def test_a_confirmed_end_before_what_was_loaded_is_a_re_created_topic() -> None:
    tails = LogEnds({(SALES, 0): 5, (SALES, 1): 0}, read={(SALES, 0)}, empty={(SALES, 1)})
    [lag] = status.topic_lags([SALES], {(SALES, 0): 10}, {}, tails)
    assert lag.replaced and not lag.unconfirmed
    assert lag.end == 5  # what it holds now
    [emptied] = status.topic_lags([SALES], {(SALES, 1): 10}, {}, tails)
    assert emptied.replaced  # an empty partition's end is exact on every broker


def test_a_broker_without_the_topic_shows_the_lag_as_unknown() -> None:
    [lag] = status.topic_lags([SALES], {(SALES, 0): 10}, {}, LogEnds({}))
    assert (lag.end, lag.lag) == (None, None)
    printed = _printed([lag])
    assert _cells(printed, SALES)[1:4] == ["?", "10", "?"]
    assert "lower bound" not in printed


def test_confirmed_ends_show_plain_numbers() -> None:
    tails = LogEnds({(SALES, 0): 15}, read={(SALES, 0)})
    [lag] = status.topic_lags([SALES], {(SALES, 0): 15}, {}, tails)
    assert (lag.end, lag.lag, lag.unconfirmed) == (15, 0, False)
    printed = _printed([lag])
    assert _cells(printed, SALES)[1:4] == ["15", "15", "0"]
    assert "lower bound" not in printed
