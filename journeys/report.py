"""The journey report: one self-contained HTML file (inline CSS and SVG, no script, no CDN)."""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from journeys import charts
from journeys.formatting import count, mean_over, number, share, week_labels
from journeys.insights import DEPARTMENTS, OUTCOME_EXPLANATIONS, Insights, at_risk_breakdown, ordered_outcomes
from journeys_core.warehouse import Row

# A department's week with fewer orders touched than this gets no problem rate in the weekly chart:
# one problem in two orders would plot as 50 %, noise that hides the trend. The week is marked
# instead (a gap in the line, a hollow ring on the axis, the counts on hover). 20 orders put one
# problem at 5 %, the scale of a real change.
MIN_ORDERS_FOR_A_RATE = 20

# What the sentence under the outcome chart says of each outcome; others read "ended '<outcome>'".
OUTCOME_PHRASES = {
    "smooth": "went smoothly",
    "recovered": "recovered from a problem",
    "silent": "had a problem nobody heard about",
    "in_progress": "are still in progress",
    "unresolved": "are unresolved",
    "lost": "were lost",
    "cancelled": "were cancelled",
}

STYLE = """
body { font-family: system-ui, sans-serif; color: #222; margin: 0 auto; max-width: 820px; padding: 24px; }
h1 { margin-bottom: 4px; } h2 { margin-top: 36px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta { color: #666; font-size: 13px; }
.kpis { display: flex; flex-wrap: wrap; gap: 12px; margin: 18px 0; }
.kpi { background: #f6f7f9; border-radius: 6px; padding: 10px 14px; min-width: 120px; }
.kpi b { display: block; font-size: 22px; } .kpi small { display: block; color: #666; font-size: 12px; }
figure { margin: 12px 0; } figcaption { color: #444; font-size: 14px; margin-top: 6px; }
table { border-collapse: collapse; font-size: 13px; margin: 10px 0; }
p.note { color: #444; font-size: 14px; margin-top: 4px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
"""


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(name: str, svg: str, caption: str) -> str:
    return f'<figure data-chart="{name}">{svg}<figcaption>{escape(caption)}</figcaption></figure>'


def _share(part: int, total: int) -> float | None:
    """`part` of `total`, None (a dash) when there is nothing to divide: an empty warehouse."""
    return part / total if total else None


def outcome_label(outcome: str) -> str:
    return outcome.replace("_", " ")


def _join(phrases: Sequence[str]) -> str:
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def outcome_sentence(counts: Mapping[str, int]) -> str:
    """'Of 1,234 journeys, 61% went smoothly, ... and 0.2% were lost.' with every outcome counted."""
    total = sum(counts.values())
    phrases = [
        f"{share(_share(n, total))} {OUTCOME_PHRASES.get(outcome, f'ended {outcome_label(outcome)!r}')}"
        for outcome, n in counts.items()
    ]
    return f"Of {total:,} journeys, {_join(phrases)}."


def outcome_explanations(outcomes: Iterable[str]) -> str:
    """What the listed outcomes a reader may not guess mean: "Silent: a problem nobody heard about..."."""
    return " ".join(
        f"{outcome_label(outcome).capitalize()}: {OUTCOME_EXPLANATIONS[outcome]}."
        for outcome in outcomes
        if outcome in OUTCOME_EXPLANATIONS
    )


def _outcome_mix(insights: Insights) -> str:
    by_week = insights["outcomes_by_week"]
    weeks = sorted({row["week_start"] for row in by_week})
    counts = {(row["week_start"], str(row["outcome"])): float(row["journeys"]) for row in by_week}
    totals = insights.outcome_counts()
    outcomes = ordered_outcomes([*totals, *(outcome for _, outcome in counts)])
    series = {outcome: [counts.get((week, outcome), 0.0) for week in weeks] for outcome in outcomes}
    svg = charts.stacked_columns(
        week_labels(weeks),
        series,
        charts.outcome_colors(outcomes),
        label="Journeys by outcome, per week the order was placed",
        y_label="journeys",
    )
    caption = (
        f"Each column is one week of orders, split by how their journey ended. {outcome_sentence(totals)} "
        f"{outcome_explanations(totals)} Recent weeks hold more journeys still in progress."
    )
    return _figure("outcome-mix", svg, caption)


def _funnel(insights: Insights) -> str:
    rows = insights["funnel"]
    notes = [
        f"{share(row['share_of_placed'])} of placed · p50 {number(row['p50_hours_from_placed'])} h · "
        f"p90 {number(row['p90_hours_from_placed'])} h"
        for row in rows
    ]
    svg = charts.horizontal_bars(
        [row["stage"] for row in rows],
        [float(row["orders"]) for row in rows],
        notes,
        label="Orders reaching each stage, with hours from placement",
    )
    return _figure("funnel", svg, funnel_caption(rows))


def funnel_caption(rows: Sequence[Row]) -> str:
    """What the funnel shows, and over how many orders its times were taken (`timed_orders`: the
    orders that reached the stage without events in an impossible order)."""
    caption = (
        "How many orders reached each stage, and how long after placement: the median and 90th percentile "
        "over the timed orders, those that reached it with their events in a possible order."
    )
    delivered = next((row for row in rows if row["stage"] == "delivered"), None)
    if delivered is None:
        return caption
    orders, timed = int(delivered["orders"] or 0), int(delivered.get("timed_orders") or 0)
    caption += f" {share(delivered['share_of_placed'])} of orders were delivered ({count(orders, 'order')})"
    if not timed:
        return caption + "; none has a time to delivery."
    p50 = number(delivered["p50_hours_from_placed"], 0)
    caption += f", half of the {count(timed, 'timed one')} within {p50} hours"
    left_out = orders - timed
    if left_out > 0:
        caption += f" ({left_out:,} with events in an impossible order left out)"
    return caption + "."


def _handoffs(insights: Insights) -> str:
    rows = insights["handoffs"]
    edges = [
        (
            row["from_department"],
            row["to_department"],
            int(row["handoffs"]),
            f"p50 {number(row['p50_latency_hours'])} h",
        )
        for row in rows
    ]
    svg = charts.handoff_diagram(edges, charts.DEPARTMENT_COLORS, label="Hand-offs between departments")
    slowest = insights.slowest_handoffs(1)
    caption = (
        "Each arrow is a hand-off: the next touchpoint of a journey came from another department. "
        "Thicker arrows carry more hand-offs; the label gives the median wait between the two touchpoints."
    )
    if slowest:
        row = slowest[0]
        caption += (
            f" The slowest is {row['from_department']} → {row['to_department']}, "
            f"with a median of {number(row['p50_latency_hours'])} hours over "
            f"{count(row['handoffs'], 'hand-off')}."
        )
    table = _table(
        ["from", "to", "hand-offs", "journeys", "p50 h", "p90 h"],
        [
            (
                row["from_department"],
                row["to_department"],
                f"{row['handoffs']:,}",
                f"{row['journeys']:,}",
                number(row["p50_latency_hours"]),
                number(row["p90_latency_hours"]),
            )
            for row in rows
        ],
    )
    return _figure("handoffs", svg, caption) + table


@dataclass(frozen=True)
class WeeklyRates:
    """Problem rates per department and week, None where there is none to plot, and why."""

    weeks: list[dt.date]
    rates: dict[str, list[float | None]]
    notes: dict[str, list[str | None]]  # for a week not plotted as a rate: what it held
    too_few: int  # department-weeks below the minimum
    department_weeks: int  # department-weeks with a row at all


def weekly_problem_rates(
    rows: Sequence[Row], departments: Sequence[str], minimum: int = MIN_ORDERS_FOR_A_RATE
) -> WeeklyRates:
    """The weekly chart's figures: a department's week with fewer than `minimum` orders touched is
    not a rate (None) but a note with its counts; a week the department has no row for is empty."""
    weeks = sorted({row["week_start"] for row in rows})
    by_key = {(row["department"], row["week_start"]): row for row in rows}
    rates: dict[str, list[float | None]] = {}
    notes: dict[str, list[str | None]] = {}
    too_few = 0
    for department in departments:
        department_rates: list[float | None] = []
        department_notes: list[str | None] = []
        for week in weeks:
            row = by_key.get((department, week))
            orders = int(row.get("orders_touched") or 0) if row else 0
            if row is None:
                department_rates.append(None)
                department_notes.append(None)
            elif orders < minimum or row["problem_rate"] is None:
                too_few += 1
                department_rates.append(None)
                department_notes.append(
                    f"{count(row['problems_owned'], 'problem')} in {count(orders, 'order')} touched: "
                    f"too few orders for a rate (under {minimum})"
                )
            else:
                department_rates.append(float(row["problem_rate"]))
                department_notes.append(None)
        if any(row is not None for row in (by_key.get((department, week)) for week in weeks)):
            rates[department], notes[department] = department_rates, department_notes
    return WeeklyRates(weeks, rates, notes, too_few, len(by_key))


def csat_note(coverage: Row | None) -> str:
    """The line under the scorecard that says why the departments' CSAT are so alike.

    `coverage` holds how many journeys were rated and how many of those touched every department.
    """
    sentence = (
        "CSAT is the mean rating of the journeys each department touched (over the rated journeys "
        "counted beside it), not a rating of the department alone. A rated journey usually passed "
        "through every department (an order, a delivery, the ticket that asked for the rating), so the "
        "values are often equal"
    )
    rated = int((coverage or {}).get("rated_journeys") or 0)
    if rated:
        all_of_them = int((coverage or {}).get("rated_touching_all") or 0)
        sentence += (
            f": here {share(all_of_them / rated)} of the {count(rated, 'rated journey')} touched all "
            f"{len(DEPARTMENTS)} departments"
        )
    return sentence + ". To compare departments, read CSAT by the department that owned the problem, below."


def _scorecard(insights: Insights) -> str:
    scorecard = insights["scorecard"]
    table = _table(
        [
            "department",
            "touchpoints",
            "problems owned",
            "problem rate",
            "CSAT",
            "rated journeys",
            "smooth share",
            "first response h",
            "resolution h",
        ],
        [
            (
                row["department"],
                f"{row['touchpoints']:,}",
                f"{row['problems_owned']:,}",
                share(row["problem_rate"]),
                number(row["mean_csat"], 2),
                f"{int(row.get('rated_journeys') or 0):,}",
                share(row["smooth_share"]),
                number(row["first_response_hours"]),
                number(row["resolution_hours"]),
            )
            for row in scorecard
        ],
    )
    note = f'<p class="note">{escape(csat_note(next(iter(insights["csat_coverage"]), None)))}</p>'
    support = next((row for row in scorecard if row.get("first_response_hours") is not None), None)
    times = ""
    if support is not None:
        times = (
            f" Support's median first response is {number(support['first_response_hours'])} h "
            f"({count(support.get('replied_tickets'), 'replied ticket')}) and its median resolution "
            f"{number(support['resolution_hours'])} h "
            f"({count(support.get('resolved_tickets'), 'resolved ticket')})."
        )
    weekly = weekly_problem_rates(insights["scorecard_weekly"], DEPARTMENTS)
    svg = charts.lines(
        week_labels(weekly.weeks),
        weekly.rates,
        charts.DEPARTMENT_COLORS,
        label="Problem rate per department and week",
        y_label="problems per order touched",
        notes=weekly.notes,
        notes_legend=f"under {MIN_ORDERS_FOR_A_RATE} orders: no rate",
    )
    caption = (
        "The table covers the whole period: problems each department owned (tickets it caused, late or "
        "damaged deliveries for shipping, cancellations for sales) per distinct order it touched, the CSAT "
        "and smooth share of the journeys it touched, and the median time to support's first response and "
        f"to resolution over all tickets.{times} The chart shows the problem rate week by week. A week in "
        f"which a department touched fewer than {MIN_ORDERS_FOR_A_RATE} orders is no rate (one problem "
        "in two orders would read 50%): its line breaks there and a hollow ring under the axis marks it, "
        f"with the counts on hover. Here {weekly.too_few:,} of {weekly.department_weeks:,} department-weeks "
        "had too few orders."
    )
    return table + note + _figure("scorecard", svg, caption)


def _csat(insights: Insights) -> str:
    owners = ["none", *DEPARTMENTS]
    rows = insights["csat"]
    values = {
        (str(row["outcome"]), row["owner"]): None if row["mean_csat"] is None else float(row["mean_csat"])
        for row in rows
    }
    rated = {(str(row["outcome"]), row["owner"]): int(row.get("rated") or 0) for row in rows}
    outcomes = [
        outcome
        for outcome in ordered_outcomes(outcome for outcome, _ in values)
        if any((outcome, owner) in values for owner in owners)
    ]
    svg = charts.heatmap(
        [outcome_label(o) for o in outcomes],
        owners,
        {(outcome_label(o), owner): values.get((o, owner)) for o in outcomes for owner in owners},
        label="Mean CSAT by journey outcome and the department that owned the problem",
        value_format="{:.2f}",
        low=1.0,
        high=5.0,
        hue=200,
        row_title="outcome",
        column_title="problem owner",
        tips={
            (outcome_label(o), owner): count(rated[(o, owner)], "rating")
            for o in outcomes
            for owner in owners
            if (o, owner) in rated
        },
    )
    mean, ratings = insights.csat()
    journeys = sum(int(row.get("journeys") or 0) for row in rows)
    caption = (
        "Mean CSAT (1 to 5) of rated journeys, by outcome and by the department that caused the journey's "
        f"problem ('none' when there was none): mean CSAT {mean_over(mean, ratings, 'rating')} of "
        f"{count(journeys, 'journey')}. Hover a cell for how many ratings it holds; grey cells had no "
        "rated journey."
    )
    return _figure("csat", svg, caption)


def _retention(insights: Insights) -> str:
    rows = insights["retention"]
    cohorts = sorted({row["cohort_month"] for row in rows})
    months = sorted({int(row["months_since_first_order"]) for row in rows})
    sizes = {row["cohort_month"]: int(row["cohort_customers"]) for row in rows}
    labels = {cohort: f"{cohort.strftime('%b %Y')} ({sizes[cohort]:,})" for cohort in cohorts}
    values = {
        (labels[row["cohort_month"]], f"+{int(row['months_since_first_order'])}"): float(
            row["retention_rate"]
        )
        for row in rows
        if row["retention_rate"] is not None
    }
    svg = charts.heatmap(
        [labels[c] for c in cohorts],
        [f"+{m}" for m in months],
        values,
        label="Share of each first-order cohort ordering again, by months since the first order",
        value_format=share,
        low=0.0,
        high=1.0,
        row_title="cohort (customers)",
        column_title="months since first order",
    )
    caption = (
        "Customers grouped by the month of their first order; each cell is the share of the cohort that "
        "placed an order that many months later. Month +0 is the cohort itself."
    )
    return _figure("retention", svg, caption)


def path_shares(paths: Sequence[Row], path_outcomes: Sequence[Row]) -> dict[str, list[float]]:
    """Per outcome (in display order, any value), its share of each path's journeys."""
    counts = {(int(row["path_rank"]), str(row["outcome"])): int(row["journeys"]) for row in path_outcomes}
    totals = {rank: 0 for rank, _ in counts}
    for (rank, _), n in counts.items():
        totals[rank] += n
    outcomes = ordered_outcomes(outcome for _, outcome in counts)
    ranks = [int(row["path_rank"]) for row in paths]
    return {
        outcome: [
            counts.get((rank, outcome), 0) / totals[rank] if totals.get(rank) else 0.0 for rank in ranks
        ]
        for outcome in outcomes
    }


def _paths(insights: Insights) -> str:
    rows = insights["paths"]
    shares = path_shares(rows, insights["path_outcomes"])
    svg = charts.stacked_bars_100(
        [str(row["journey_path"]) for row in rows],
        shares,
        charts.outcome_colors(shares),
        [f"{row['journeys']:,} ({share(row['share_of_journeys'])})" for row in rows],
        label="Most common journey paths and how they ended",
    )
    caption = (
        "The ten most common sequences of departments a journey passed through, each split by outcome; "
        "the number after each bar is how many journeys took that path."
    )
    return _figure("paths", svg, caption)


def at_risk_intro(at_risk: int, reasons: Mapping[str, int], shown: int) -> str:
    """The sentence above the at-risk list: how many need a check-in, and why."""
    if not at_risk:
        return "No customer is at risk."
    sentence = (
        f"{count(at_risk, 'customer')} need{'s' if at_risk == 1 else ''} a check-in: their last journey went "
        "badly and nobody has checked in since"
    )
    if reasons:
        sentence += f". Why: {at_risk_breakdown(reasons, explained=True)}"
    if shown < at_risk:
        sentence += f". Below, the {shown:,} with the lowest health"
    return sentence + "."


def _at_risk(insights: Insights) -> str:
    rows = insights["at_risk"]
    at_risk = int(insights.customers().get("at_risk") or 0) or len(rows)
    intro = f"<p>{escape(at_risk_intro(at_risk, insights.at_risk_reasons(), len(rows)))}</p>"
    if not rows:
        return intro
    return intro + _table(
        ["customer", "health", "reason", "orders", "open tickets", "CSAT", "last order"],
        [
            (
                row["customer_key"],
                row["health_score"],
                outcome_label(str(row["last_journey_outcome"])),
                row["orders"],
                row["open_tickets"],
                number(row["mean_csat"]),
                str(row["last_order_at"])[:16],
            )
            for row in rows
        ],
    )


def kpis(insights: Insights) -> list[tuple[str, str]]:
    """The tiles at the top, (name, figure); shares read exactly as in the sentences below them."""
    outcomes = insights.outcome_counts()
    total = sum(outcomes.values())
    customers = insights.customers()
    mean_csat, ratings = insights.csat()
    return [
        ("journeys", f"{total:,}"),
        ("smooth", share(_share(outcomes["smooth"], total))),
        ("silent", share(_share(outcomes["silent"], total))),
        ("lost", share(_share(outcomes["lost"], total))),
        (f"mean CSAT ({count(ratings, 'rating')})", number(mean_csat, 2)),
        ("customers", f"{int(customers.get('customers') or 0):,}"),
        ("at risk", f"{int(customers.get('at_risk') or 0):,}"),
        (
            f"mean health ({count(customers.get('scored_customers'), 'customer')})",
            number(customers.get("mean_health"), 0),
        ),
    ]


def _tile(name: str, figure: str) -> str:
    """A tile: the figure, its name, and what it was taken over on a line of its own, so the tile
    stays narrow ("mean CSAT" over "(527 ratings)") and two rows hold them all."""
    label, _, over = name.partition(" (")
    small = f"<small>({escape(over)}</small>" if over else ""
    return f'<div class="kpi"><b>{escape(figure)}</b>{escape(label)}{small}</div>'


def render(insights: Insights, *, source: str, generated_at: dt.datetime) -> str:
    """The whole report page as one string."""
    kpi_html = "".join(_tile(name, figure) for name, figure in kpis(insights))
    notes = "".join(f'<p class="note">{escape(note)}</p>' for note in insights.quality_notes())
    sections = [
        ("Outcomes over time", _outcome_mix(insights)),
        ("Stage funnel", _funnel(insights)),
        ("Hand-offs between departments", _handoffs(insights)),
        ("Department scorecard", _scorecard(insights)),
        ("CSAT by outcome and owner department", _csat(insights)),
        ("Cohort retention", _retention(insights)),
        ("Top journey paths", _paths(insights)),
        ("Customers at risk: who needs a check-in", _at_risk(insights)),
    ]
    body = "".join(f"<section><h2>{escape(title)}</h2>{html}</section>" for title, html in sections)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Journeys report</title><style>{STYLE}</style></head><body>"
        "<h1>Customer journeys</h1>"
        f'<p class="meta">Generated {generated_at:%Y-%m-%d %H:%M} UTC from {escape(source)}. One journey is '
        "one order, followed across sales, shipping and support.</p>"
        f'<div class="kpis">{kpi_html}</div>{notes}{body}</body></html>'
    )


class ReportError(Exception):
    """The report cannot be written where it was asked to go."""


def write_report(insights: Insights, path: Path, *, source: str) -> Path:
    """Write the report atomically (a reader never sees half a file) and return its path.

    A folder gets `journeys.html` inside it.
    """
    path = _report_file(path)
    html = render(insights, source=source, generated_at=dt.datetime.now(dt.UTC))
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(html, encoding="utf-8")
        partial.replace(path)
    except OSError as error:
        with contextlib.suppress(OSError):  # the folder itself may be what failed
            partial.unlink(missing_ok=True)
        raise _unwritable(path, error) from error
    return path


def check_writable(path: Path) -> None:
    """Raise the ReportError write_report would, before any work (`journeys run` checks first)."""
    path = _report_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as error:
        raise _unwritable(path, error) from error


def _report_file(path: Path) -> Path:
    return path / "journeys.html" if path.is_dir() else path


def _unwritable(path: Path, error: OSError) -> ReportError:
    """The one sentence for a report path that cannot be written."""
    # "File exists" from mkdir means a file stands where a folder of the path should be: name it.
    blocker = next((parent for parent in path.parents if parent.is_file()), None)
    reason = f"{blocker} is a file, not a folder" if blocker else error.strerror or str(error)
    return ReportError(
        f"cannot write the report to {path} ({reason}): choose a writable file with --output, or set "
        "JOURNEYS_REPORT_PATH"
    )
