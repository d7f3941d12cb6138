"""The report and the run summary on the marts of issue 16 items 3 to 5: 'silent' journeys, events
in an impossible order, attributes that could not be typed, and the counts behind the funnel's times
and the at-risk list. Tiles, prose and the terminal say each figure the same way."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import duckdb
from rich.console import Console

from journeys.insights import (
    ALWAYS_LISTED,
    OUTCOME_EXPLANATIONS,
    QUERIES,
    Insights,
    at_risk_breakdown,
    quality_notes,
)
from journeys.report import at_risk_intro, funnel_caption, kpis, render
from journeys.summary import at_risk_table, outcomes_table, run_summary

WHEN = dt.datetime(2027, 1, 4, tzinfo=dt.UTC)
SILENT = "a problem nobody heard about: no ticket, refund, return or rating; check in with them"


def _insights(**rows: list[dict[str, Any]]) -> Insights:
    return Insights(rows={**{name: [] for name in QUERIES}, **rows})


def _printed(renderable: Any) -> str:
    console = Console(width=80, record=True)
    console.print(renderable)
    return console.export_text()


def _one_line(text: str) -> str:
    """Page or terminal text with tags dropped and wrapping undone, to find a sentence in it."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


# Silent journeys


def test_silent_is_listed_even_when_no_journey_ended_so() -> None:
    assert "silent" in ALWAYS_LISTED
    insights = _insights(outcomes=[{"outcome": "smooth", "journeys": 10, "mean_csat": None, "rated": 0}])
    assert insights.outcome_counts()["silent"] == 0
    assert re.search(r"│ silent\s+│\s+0 │\s+0% │", _printed(outcomes_table(insights)))


def test_silent_is_explained_in_the_report_and_the_terminal() -> None:
    assert OUTCOME_EXPLANATIONS["silent"] == SILENT
    insights = _insights(
        outcomes=[
            {"outcome": "smooth", "journeys": 998, "mean_csat": None, "rated": 0},
            {"outcome": "silent", "journeys": 2, "mean_csat": None, "rated": 0},
        ]
    )
    page = render(insights, source="test", generated_at=WHEN)
    assert f"Silent: {SILENT}." in _one_line(page)
    assert f"silent: {SILENT}" in _one_line(_printed(outcomes_table(insights)))


def test_the_silent_tile_the_sentence_and_the_terminal_say_the_same_share() -> None:
    insights = _insights(
        outcomes=[
            {"outcome": "smooth", "journeys": 998, "mean_csat": None, "rated": 0},
            {"outcome": "silent", "journeys": 2, "mean_csat": None, "rated": 0},
        ]
    )
    assert dict(kpis(insights))["silent"] == "0.2%"
    page = render(insights, source="test", generated_at=WHEN)
    assert "<b>0.2%</b>silent" in page and "0.2% had a problem nobody heard about" in page
    assert re.search(r"│ silent\s+│\s+2 │\s+0.2% │", _printed(outcomes_table(insights)))


# Impossible sequences and untyped attributes


def _quality(journeys: int, impossible: int, tickets: int, odd_tickets: int, untyped: int) -> dict[str, int]:
    """A row of the data_quality query."""
    return {
        "journeys": journeys,
        "impossible_journeys": impossible,
        "tickets": tickets,
        "impossible_tickets": odd_tickets,
        "untyped_events": untyped,
    }


def test_nothing_is_said_when_every_event_is_in_order_and_typed() -> None:
    assert quality_notes(_quality(100, 0, 9, 0, 0)) == []
    assert quality_notes({}) == []
    page = render(_insights(data_quality=[_quality(100, 0, 9, 0, 0)]), source="t", generated_at=WHEN)
    assert "impossible order" not in page and "could not type" not in page


def test_impossible_sequences_and_untyped_events_are_counted_with_their_share() -> None:
    notes = quality_notes(_quality(1000, 2, 400, 4, 7))
    assert notes == [
        "2 journeys (0.2%) have events in an impossible order (delivered before placed, delivered before "
        "dispatched, a ticket handled before it opened): kept, left out of durations.",
        "4 tickets (1.0%) were replied to, escalated, resolved or reopened before they were opened: kept; "
        "nothing before the opening counts as a response or a resolution time.",
        "7 events have an attribute the warehouse could not type (kept as unknown): "
        "marts.fct_untyped_attributes lists them to correct at their source.",
    ]


def test_one_of_each_reads_in_the_singular_and_a_tiny_share_is_not_zero() -> None:
    notes = quality_notes(_quality(5000, 1, 1, 1, 1))
    assert notes[0].startswith("1 journey (<0.1%) has events in an impossible order")
    assert notes[1].startswith("1 ticket (100%) was replied to, escalated, resolved or reopened before it")
    assert notes[2].startswith("1 event has an attribute the warehouse could not type (kept as unknown)")


def test_the_report_and_the_terminal_carry_the_same_sentences() -> None:
    row = _quality(1000, 2, 0, 0, 3)
    insights = _insights(data_quality=[row])
    page = _one_line(render(insights, source="test", generated_at=WHEN))
    printed = _one_line(_printed(run_summary(insights)))
    for note in quality_notes(row):
        assert note in page and note in printed


def test_the_quality_query_counts_each_journey_once_from_the_facts() -> None:
    with duckdb.connect() as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_order_journeys as select * from (values "
            "('O-1', true), ('O-2', false), ('O-3', true)) as t(order_id, has_impossible_sequence)"
        )
        con.execute(
            "create table marts.fct_tickets as select * from (values "
            "('T-1', false), ('T-2', true)) as t(ticket_id, has_impossible_sequence)"
        )
        con.execute("create table marts.fct_untyped_attributes (event_id text, untyped_attributes text)")
        con.execute("insert into marts.fct_untyped_attributes values ('e1', 'amount'), ('e2', 'items')")
        cursor = con.execute(QUERIES["data_quality"])
        columns = [d[0] for d in cursor.description or ()]
        [row] = [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]
    assert row == _quality(3, 2, 2, 1, 2)


# The funnel's times


def _delivered(orders: int, timed: int, p50: float | None) -> dict[str, Any]:
    return {
        "stage": "delivered",
        "orders": orders,
        "share_of_placed": 0.946,
        "timed_orders": timed,
        "p50_hours_from_placed": p50,
    }


def test_the_funnel_says_over_how_many_orders_its_times_were_taken() -> None:
    caption = funnel_caption([_delivered(2675, 2673, 66.8)])
    assert "median and 90th percentile over the timed orders" in caption
    assert caption.endswith(
        "94.6% of orders were delivered (2,675 orders), half of the 2,673 timed ones within 67 hours "
        "(2 with events in an impossible order left out)."
    )
    assert funnel_caption([_delivered(10, 10, 5.0)]).endswith("half of the 10 timed ones within 5 hours.")
    assert funnel_caption([_delivered(1, 0, None)]).endswith("(1 order); none has a time to delivery.")
    assert funnel_caption([]).endswith("in a possible order.")


def test_the_funnel_query_reads_timed_orders_from_the_mart() -> None:
    assert "timed_orders" in QUERIES["funnel"]


# Customers who need a check-in


def test_the_reasons_read_lost_unresolved_silent_and_say_what_they_mean() -> None:
    insights = _insights(
        at_risk_reasons=[
            {"outcome": "silent", "customers": 62},
            {"outcome": "lost", "customers": 86},
            {"outcome": "unresolved", "customers": 0},
        ]
    )
    reasons = insights.at_risk_reasons()
    assert reasons == {"lost": 86, "silent": 62}
    assert at_risk_breakdown(reasons) == "86 lost and 62 silent"
    assert at_risk_breakdown({"lost": 1, "unresolved": 2, "silent": 3}) == "1 lost, 2 unresolved and 3 silent"
    assert at_risk_breakdown(reasons, explained=True) == (
        "86 lost (a problem, then a rating of 1 or 2 or a refund); "
        "62 silent (a problem nobody heard about: no ticket, refund, return or rating)"
    )
    assert at_risk_intro(148, reasons, 10) == (
        "148 customers need a check-in: their last journey went badly and nobody has checked in since. "
        f"Why: {at_risk_breakdown(reasons, explained=True)}. Below, the 10 with the lowest health."
    )
    assert at_risk_intro(1, {"silent": 1}, 1).startswith("1 customer needs a check-in")
    assert at_risk_intro(0, {}, 0) == "No customer is at risk."


def test_the_list_and_the_terminal_show_why_each_customer_needs_a_check_in() -> None:
    customer = {
        "customer_key": "CUS-1",
        "health_score": 40,
        "last_journey_outcome": "silent",
        "orders": 1,
        "open_tickets": 0,
        "mean_csat": None,
        "last_order_at": dt.datetime(2026, 12, 1, 9, 30),
    }
    insights = _insights(
        customers=[{"customers": 20, "at_risk": 3}],
        at_risk=[customer],
        at_risk_reasons=[{"outcome": "silent", "customers": 2}, {"outcome": "lost", "customers": 1}],
    )
    page = render(insights, source="test", generated_at=WHEN)
    assert "<th>reason</th>" in page and "<td>CUS-1</td><td>40</td><td>silent</td>" in page
    assert "<b>3</b>at risk" in page and "3 customers need a check-in" in page
    printed = _printed(at_risk_table(insights))
    assert re.search(r"│ CUS-1\s+│\s+40 │ silent\s+│", printed)
    assert "no check-in since their last journey went badly: 1 lost and 2 silent" in _one_line(printed)


def test_the_reasons_query_counts_at_risk_customers_by_their_last_journey() -> None:
    with duckdb.connect() as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.dim_customers as select * from (values "
            "('C-1', true, 'silent'), ('C-2', true, 'silent'), ('C-3', false, 'silent'), "
            "('C-4', true, 'lost')) "
            "as t(customer_key, is_at_risk, last_journey_outcome)"
        )
        rows = sorted(con.execute(QUERIES["at_risk_reasons"]).fetchall())
    assert rows == [("lost", 1), ("silent", 2)]


def test_the_at_risk_list_shows_the_worst_of_each_reason_before_the_second_of_any() -> None:
    with duckdb.connect() as con:
        con.execute("create schema marts")
        lost = ", ".join(f"('L-{n:02}', {20 + n}, 'lost')" for n in range(12))
        con.execute(
            "create table marts.dim_customers as select *, true as is_at_risk, 1 as orders, "
            "0 as open_tickets, null as mean_csat, timestamp '2026-01-01' as last_order_at from (values "
            f"{lost}, ('S-1', 45, 'silent')) as t(customer_key, health_score, last_journey_outcome)"
        )
        rows = con.execute(QUERIES["at_risk"]).fetchall()
    assert [row[0] for row in rows[:2]] == ["L-00", "S-1"]  # silent, though healthier than all lost
    assert len(rows) == 10


# Support's times


def test_support_times_name_the_replied_and_resolved_tickets_they_were_taken_over() -> None:
    row = {
        "department": "support",
        "touchpoints": 10,
        "problems_owned": 1,
        "problem_rate": 0.1,
        "mean_csat": None,
        "rated_journeys": 0,
        "smooth_share": None,
        "first_response_hours": 3.8,
        "resolution_hours": 38.7,
        "replied_tickets": 455,
        "resolved_tickets": 421,
    }
    page = render(_insights(scorecard=[row]), source="test", generated_at=WHEN)
    assert (
        "Support's median first response is 3.8 h (455 replied tickets) and its median resolution 38.7 h "
        "(421 resolved tickets)."
    ) in _one_line(page)


def test_a_tile_puts_what_its_figure_was_taken_over_on_a_line_of_its_own() -> None:
    outcomes = [{"outcome": "smooth", "journeys": 10, "mean_csat": 4.0, "rated": 527}]
    page = render(_insights(outcomes=outcomes), source="test", generated_at=WHEN)
    assert '<div class="kpi"><b>4.00</b>mean CSAT<small>(527 ratings)</small></div>' in page
    assert '<div class="kpi"><b>0%</b>silent</div>' in page
