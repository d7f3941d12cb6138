"""The report on a long history (issue 16): years on the axis, no rates of tiny weeks, shares that
read the same everywhere, whole journey paths, and outcomes the report does not know yet."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from typing import Any

import duckdb
import pytest
from rich.console import Console

from journeys import charts
from journeys.formatting import count, mean_over, share, week_labels
from journeys.insights import QUERIES, Insights, ordered_outcomes
from journeys.report import (
    MIN_ORDERS_FOR_A_RATE,
    csat_note,
    kpis,
    outcome_sentence,
    path_shares,
    render,
    weekly_problem_rates,
)
from journeys.summary import csat_footnote, scorecard_table

SVG = "{http://www.w3.org/2000/svg}"
WHEN = dt.datetime(2027, 1, 4, tzinfo=dt.UTC)


def _weeks(first: dt.date, n: int) -> list[dt.date]:
    return [first + dt.timedelta(weeks=k) for k in range(n)]


def _axis_labels(svg: str) -> list[str]:
    """The texts under the plot: category labels (they have no title and are centred)."""
    root = ET.fromstring(svg)
    return [
        "".join(e.itertext())
        for e in root.iter(f"{SVG}text")
        if e.get("text-anchor") == "middle" and not e.get("transform")
    ]


# Axis labels


def test_weeks_inside_one_year_are_labelled_without_it() -> None:
    assert week_labels(_weeks(dt.date(2026, 3, 2), 3)) == ["02 Mar", "09 Mar", "16 Mar"]


def test_weeks_across_a_year_boundary_carry_the_year() -> None:
    labels = week_labels(_weeks(dt.date(2025, 12, 22), 3))
    assert labels == ["22 Dec 2025", "29 Dec 2025", "05 Jan 2026"]


def test_two_years_of_weeks_never_share_a_label_and_the_chart_shows_the_years() -> None:
    weeks = _weeks(dt.date(2024, 11, 4), 110)
    labels = week_labels(weeks)
    assert len(set(labels)) == len(labels)
    svg = charts.stacked_columns(
        labels, {"smooth": [1.0] * len(labels)}, charts.OUTCOME_COLORS, label="mix", y_label="journeys"
    )
    shown = _axis_labels(svg)
    assert {label[-4:] for label in shown} == {"2024", "2025", "2026"}
    # Long labels are thinned so that they fit side by side (about 90 px each on a 700 px plot).
    assert 4 <= len(shown) <= 700 // 90


# Small weeks


def _week_row(department: str, week: dt.date, orders: int, problems: int) -> dict[str, Any]:
    return {
        "department": department,
        "week_start": week,
        "orders_touched": orders,
        "problems_owned": problems,
        "problem_rate": problems / orders if orders else None,
    }


def test_a_week_with_two_orders_is_marked_not_plotted_as_a_rate() -> None:
    w1, w2, w3 = _weeks(dt.date(2026, 3, 2), 3)
    rows = [
        _week_row("sales", w1, 40, 4),
        _week_row("sales", w2, 2, 2),  # would read 100 %
        _week_row("sales", w3, MIN_ORDERS_FOR_A_RATE, 1),
        _week_row("support", w1, 30, 3),
    ]
    rates = weekly_problem_rates(rows, ("sales", "shipping", "support"))
    assert rates.weeks == [w1, w2, w3]
    assert rates.rates["sales"] == [0.1, None, 1 / MIN_ORDERS_FOR_A_RATE]
    assert rates.notes["sales"][1] == (
        f"2 problems in 2 orders touched: too few orders for a rate (under {MIN_ORDERS_FOR_A_RATE})"
    )
    assert rates.notes["sales"][0] is None and rates.notes["sales"][2] is None
    # A week the department has no row for is empty, not "too few"; shipping has no week at all.
    assert rates.rates["support"] == [0.1, None, None] and rates.notes["support"] == [None, None, None]
    assert "shipping" not in rates.rates
    assert (rates.too_few, rates.department_weeks) == (1, 4)


def test_the_chart_breaks_the_line_at_a_small_week_and_rings_it_on_the_axis() -> None:
    svg = charts.lines(
        ["w1", "w2", "w3"],
        {"sales": [0.1, None, 0.05]},
        charts.DEPARTMENT_COLORS,
        label="rates",
        y_label="rate",
        notes={"sales": [None, "2 problems in 2 orders", None]},
        notes_legend="under 20 orders: no rate",
    )
    root = ET.fromstring(svg)
    [line] = [e for e in root.iter(f"{SVG}path")]
    assert line.get("d", "").count("M") == 2 and "L" not in line.get("d", "")  # two pieces, no bridge
    circles = list(root.iter(f"{SVG}circle"))
    rings = [c for c in circles if c.get("data-not-plotted")]
    assert len(rings) == 1 and rings[0].get("fill") == "#fff"
    assert rings[0].findtext(f"{SVG}title") == "sales, week of w2: 2 problems in 2 orders"
    plotted = [c.findtext(f"{SVG}title") for c in circles if c.get("fill") == "#4e79a7"]
    assert plotted == ["sales, week of w1: 10%", "sales, week of w3: 5.0%"]
    assert "under 20 orders: no rate" in svg


def test_the_rings_sit_under_the_axis_not_among_the_rates() -> None:
    svg = charts.lines(
        ["w1", "w2"],
        {"sales": [0.5, None]},
        charts.DEPARTMENT_COLORS,
        label="r",
        y_label="r",
        notes={"sales": [None, "too few"]},
    )
    root = ET.fromstring(svg)
    axis_y = max(float(e.get("y1", 0)) for e in root.iter(f"{SVG}line"))
    [ring] = [c for c in root.iter(f"{SVG}circle") if c.get("data-not-plotted")]
    assert float(ring.get("cy", 0)) > axis_y


def test_axis_ticks_are_round_and_as_precise_as_their_step() -> None:
    assert [charts.percent_ticks(0.025)(v) for v in (0.025, 0.05, 0.075)] == ["2.5%", "5.0%", "7.5%"]
    assert charts.percent_ticks(0.25)(0.5) == "50%"
    # 50 journeys in steps of 10, not 12.5 shown as "12" and "38"; 20 in steps of 5.
    assert [charts.tick_count(v) for v in (50, 20, 10, 1, 0.5, 0.2)] == [5, 4, 5, 5, 5, 4]
    svg = charts.stacked_columns(["w"], {"smooth": [41.0]}, charts.OUTCOME_COLORS, label="m", y_label="j")
    ticks = [e.text for e in ET.fromstring(svg).iter(f"{SVG}text") if e.get("text-anchor") == "end"]
    assert ticks == ["0", "10", "20", "30", "40", "50"]


# Shares


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (0, "0%"),
        (0.0004, "<0.1%"),
        (0.002, "0.2%"),
        (0.0449, "4.5%"),
        (0.5, "50%"),
        (0.953, "95.3%"),
        (0.9996, ">99.9%"),
        (1, "100%"),
    ],
)
def test_shares_read_as_a_person_expects(value: float | None, text: str) -> None:
    assert share(value) == text


def test_a_share_that_is_not_zero_never_reads_zero_nor_one_that_is_not_whole_a_hundred() -> None:
    for k in range(1, 10_000):
        text = share(k / 10_000)
        assert text not in {"0%", "0.0%", "100%", "100.0%"}, (k, text)


def _insights(**rows: list[dict[str, Any]]) -> Insights:
    return Insights(rows={**{name: [] for name in QUERIES}, **rows})


def test_the_lost_tile_and_the_sentence_under_the_chart_say_the_same() -> None:
    outcomes = [
        {"outcome": "smooth", "journeys": 998, "mean_csat": 4.5, "rated": 300},
        {"outcome": "lost", "journeys": 2, "mean_csat": 1.0, "rated": 2},
    ]
    insights = _insights(outcomes=outcomes)
    tiles = dict(kpis(insights))
    assert tiles["lost"] == "0.2%"
    assert tiles["smooth"] == "99.8%"
    page = render(insights, source="test", generated_at=WHEN)
    assert "<b>0.2%</b>lost" in page
    assert "99.8% went smoothly" in page and "0.2% were lost" in page
    assert not re.search(r"\b0% were lost", page)


def test_the_sentence_names_every_outcome_even_unknown_ones() -> None:
    sentence = outcome_sentence({"smooth": 6, "silent": 2, "teleported": 2})
    assert sentence == (
        "Of 10 journeys, 60% went smoothly, 20% had a problem nobody heard about and 20% ended 'teleported'."
    )


# Counts behind averages


def test_a_mean_says_how_many_rows_it_was_taken_over() -> None:
    assert mean_over(4.2, 312, "rating") == "4.20 (312 ratings)"
    assert mean_over(None, 0, "rating") == "- (no ratings)"
    assert count(1, "rated journey") == "1 rated journey"


def test_the_mean_csat_tile_says_how_many_ratings() -> None:
    outcomes = [
        {"outcome": "smooth", "journeys": 10, "mean_csat": 5.0, "rated": 3},
        {"outcome": "lost", "journeys": 2, "mean_csat": 2.0, "rated": 1},
        {"outcome": "in_progress", "journeys": 4, "mean_csat": None, "rated": 0},
    ]
    assert ("mean CSAT (4 ratings)", "4.25") in kpis(_insights(outcomes=outcomes))


# Journey paths


def test_long_paths_are_wrapped_whole_never_cut() -> None:
    base = "sales > shipping > support > shipping > support > sales"
    paths = [f"{base} > {tail}" for tail in ("shipping", "support", "sales > shipping", "support > sales")]
    svg = charts.stacked_bars_100(
        paths,
        {"smooth": [0.5] * 4, "lost": [0.5] * 4},
        charts.OUTCOME_COLORS,
        ["1"] * 4,
        label="paths",
    )
    root = ET.fromstring(svg)
    labels = [e for e in root.iter(f"{SVG}text") if e.find(f"{SVG}tspan") is not None]
    shown = [" ".join(span.text or "" for span in e.iter(f"{SVG}tspan")) for e in labels]
    assert shown == paths  # the lines, read in a row, are the whole path
    assert len(set(shown)) == 4
    assert [e.findtext(f"{SVG}title") for e in labels] == paths  # and hovering shows it in one line
    assert all(len(span.text or "") <= 34 for e in labels for span in e.iter(f"{SVG}tspan"))
    assert "…" not in svg


def test_wrapping_breaks_after_a_step_and_keeps_a_lone_long_step_whole() -> None:
    assert charts.wrap_label("sales > shipping > support", 18) == ["sales > shipping >", "support"]
    assert charts.wrap_label("sales", 3) == ["sales"]
    assert charts.wrap_label("", 10) == [""]


def test_path_shares_count_every_outcome_including_ones_the_mart_has_no_column_for() -> None:
    paths = [{"path_rank": 1}, {"path_rank": 2}]
    outcomes = [
        {"path_rank": 1, "outcome": "smooth", "journeys": 3},
        {"path_rank": 1, "outcome": "silent", "journeys": 1},
        {"path_rank": 2, "outcome": "lost", "journeys": 2},
    ]
    assert path_shares(paths, outcomes) == {
        "smooth": [0.75, 0.0],
        "silent": [0.25, 0.0],
        "lost": [0.0, 1.0],
    }


def test_the_path_query_counts_outcomes_from_the_facts() -> None:
    with duckdb.connect() as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.mart_journey_paths as select * from (values "
            "(1, 'sales > shipping', 3), (2, 'sales', 1)) as t(path_rank, journey_path, journeys)"
        )
        con.execute(
            "create table marts.fct_order_journeys as select * from (values "
            "('sales > shipping', 'smooth'), ('sales > shipping', 'silent'), ('sales > shipping', 'smooth'), "
            "('sales', 'cancelled')) as t(journey_path, outcome)"
        )
        rows = con.execute(QUERIES["path_outcomes"]).fetchall()
    assert rows == [(1, "silent", 1), (1, "smooth", 2), (2, "cancelled", 1)]


# New and unknown outcomes


def test_silent_comes_after_recovered_and_before_lost_and_unknown_ones_come_last() -> None:
    order = ordered_outcomes(["zeta", "lost", "silent", "smooth", "recovered", "alpha"])
    assert order == ["smooth", "recovered", "silent", "lost", "alpha", "zeta"]
    colors = charts.outcome_colors(order)
    assert colors["silent"] not in {c for name, c in colors.items() if name != "silent"}
    assert colors["alpha"] != colors["zeta"]


def test_a_report_with_outcomes_it_does_not_know_draws_them_instead_of_crashing() -> None:
    week = dt.date(2026, 3, 2)
    insights = _insights(
        outcomes=[
            {"outcome": "smooth", "journeys": 30, "mean_csat": 4.5, "rated": 10},
            {"outcome": "silent", "journeys": 5, "mean_csat": None, "rated": 0},
            {"outcome": "teleported", "journeys": 1, "mean_csat": None, "rated": 0},
        ],
        outcomes_by_week=[
            {"week_start": week, "outcome": "smooth", "journeys": 30},
            {"week_start": week, "outcome": "silent", "journeys": 5},
            {"week_start": week, "outcome": "teleported", "journeys": 1},
        ],
        csat=[{"outcome": "teleported", "owner": "none", "mean_csat": 3.0, "rated": 1, "journeys": 1}],
        paths=[{"path_rank": 1, "journey_path": "sales", "journeys": 36, "share_of_journeys": 1}],
        path_outcomes=[
            {"path_rank": 1, "outcome": "smooth", "journeys": 30},
            {"path_rank": 1, "outcome": "teleported", "journeys": 6},
        ],
    )
    assert list(insights.outcome_counts())[:3] == ["smooth", "recovered", "silent"]
    assert list(insights.outcome_counts())[-1] == "teleported"
    page = render(insights, source="test", generated_at=WHEN)
    assert "02 Mar: 5 silent" in page and "02 Mar: 1 teleported" in page
    assert "ended &#x27;teleported&#x27;" in page
    assert "sales: 17% teleported" in page


# Department CSAT


def test_the_department_csat_explains_why_the_values_are_equal() -> None:
    note = csat_note({"rated_journeys": 312, "rated_touching_all": 290})
    assert "the journeys each department touched" in note
    assert "so the values are often equal: here 92.9% of the 312 rated journeys touched all 3" in note
    assert "values are often equal. To compare" in csat_note(None)


def test_the_scorecard_shows_over_how_many_rated_journeys_csat_was_taken() -> None:
    row = {
        "department": "sales",
        "touchpoints": 10,
        "problems_owned": 1,
        "problem_rate": 0.1,
        "mean_csat": 4.25,
        "rated_journeys": 312,
        "smooth_share": 0.7,
        "first_response_hours": None,
        "resolution_hours": None,
    }
    insights = _insights(scorecard=[row], csat_coverage=[{"rated_journeys": 312, "rated_touching_all": 300}])
    page = render(insights, source="test", generated_at=WHEN)
    assert "<td>4.25</td><td>312</td>" in page
    assert '<p class="note">CSAT is the mean rating of the journeys each department touched' in page
    # The terminal summary says it in its footnote, and still fits an 80-column terminal.
    console = Console(width=80, record=True)
    console.print(scorecard_table(insights))
    printed = console.export_text()
    assert "…" not in printed
    assert (
        "CSAT: mean rating of the journeys a department touched (over the same 312 rated journeys for "
        "each); most rated journeys touch every department, so the values are often equal"
    ) in " ".join(printed.split())  # the caption wraps at the table's width


def test_the_footnote_lists_the_rated_journeys_per_department_when_they_differ() -> None:
    rows = [{"department": "sales", "rated_journeys": 1200}, {"department": "support", "rated_journeys": 1}]
    assert "(rated journeys: sales 1,200, support 1)" in csat_footnote(rows)
    assert csat_footnote([]).startswith("CSAT: mean rating of the journeys a department touched;")


def test_a_legend_of_every_outcome_stays_above_the_path_bars() -> None:
    outcomes = ordered_outcomes([*charts.OUTCOME_COLORS, "teleported"])
    svg = charts.stacked_bars_100(
        ["sales > shipping"],
        {outcome: [1 / len(outcomes)] for outcome in outcomes},
        charts.outcome_colors(outcomes),
        ["1"],
        label="paths",
    )
    rects = list(ET.fromstring(svg).iter(f"{SVG}rect"))
    swatches = [float(r.get("y", 0)) + 12 for r in rects if r.find(f"{SVG}title") is None]
    bars = [float(r.get("y", 0)) for r in rects if r.find(f"{SVG}title") is not None]
    assert len(swatches) == len(outcomes)
    assert max(swatches) < min(bars)
