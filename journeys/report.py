"""The journey report: one self-contained HTML file (inline CSS and SVG, no script, no CDN)."""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

from journeys import charts
from journeys.insights import DEPARTMENTS, OUTCOMES, Insights

STYLE = """
body { font-family: system-ui, sans-serif; color: #222; margin: 0 auto; max-width: 820px; padding: 24px; }
h1 { margin-bottom: 4px; } h2 { margin-top: 36px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta { color: #666; font-size: 13px; }
.kpis { display: flex; flex-wrap: wrap; gap: 12px; margin: 18px 0; }
.kpi { background: #f6f7f9; border-radius: 6px; padding: 10px 14px; min-width: 120px; }
.kpi b { display: block; font-size: 22px; }
figure { margin: 12px 0; } figcaption { color: #444; font-size: 14px; margin-top: 6px; }
table { border-collapse: collapse; font-size: 13px; margin: 10px 0; }
th, td { padding: 4px 10px; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
"""


def _pct(value: Any, digits: int = 0) -> str:
    return "-" if value is None else f"{float(value):.{digits}%}"


def _num(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{float(value):,.{digits}f}"


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


def _outcome_mix(insights: Insights) -> str:
    weeks = sorted({row["week_start"] for row in insights["outcomes_by_week"]})
    counts = {
        (row["week_start"], row["outcome"]): float(row["journeys"]) for row in insights["outcomes_by_week"]
    }
    series = {outcome: [counts.get((week, outcome), 0.0) for week in weeks] for outcome in OUTCOMES}
    totals = insights.outcome_counts()
    total = sum(totals.values())
    svg = charts.stacked_columns(
        [week.strftime("%d %b") for week in weeks],
        series,
        charts.OUTCOME_COLORS,
        label="Journeys by outcome, per week the order was placed",
        y_label="journeys",
    )
    caption = (
        f"Each column is one week of orders, split by how their journey ended. Of {total:,} journeys, "
        f"{_pct(_share(totals['smooth'], total))} went smoothly, {_pct(_share(totals['recovered'], total))} "
        f"recovered from a problem and {_pct(_share(totals['lost'], total))} were lost; recent weeks hold "
        "more journeys still in progress."
    )
    return _figure("outcome-mix", svg, caption)


def _funnel(insights: Insights) -> str:
    rows = insights["funnel"]
    notes = [
        f"{_pct(row['share_of_placed'])} of placed · p50 {_num(row['p50_hours_from_placed'])} h · "
        f"p90 {_num(row['p90_hours_from_placed'])} h"
        for row in rows
    ]
    svg = charts.horizontal_bars(
        [row["stage"] for row in rows],
        [float(row["orders"]) for row in rows],
        notes,
        label="Orders reaching each stage, with hours from placement",
    )
    delivered = next((row for row in rows if row["stage"] == "delivered"), None)
    caption = "How many orders reached each stage, and how long after placement (median and 90th percentile)."
    if delivered is not None:
        caption += (
            f" {_pct(delivered['share_of_placed'])} of orders were delivered, half of them within "
            f"{_num(delivered['p50_hours_from_placed'], 0)} hours."
        )
    return _figure("funnel", svg, caption)


def _handoffs(insights: Insights) -> str:
    rows = insights["handoffs"]
    edges = [
        (
            row["from_department"],
            row["to_department"],
            int(row["handoffs"]),
            f"p50 {_num(row['p50_latency_hours'])} h",
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
            f"with a median of {_num(row['p50_latency_hours'])} hours."
        )
    table = _table(
        ["from", "to", "hand-offs", "journeys", "p50 h", "p90 h"],
        [
            (
                row["from_department"],
                row["to_department"],
                f"{row['handoffs']:,}",
                f"{row['journeys']:,}",
                _num(row["p50_latency_hours"]),
                _num(row["p90_latency_hours"]),
            )
            for row in rows
        ],
    )
    return _figure("handoffs", svg, caption) + table


def _scorecard(insights: Insights) -> str:
    table = _table(
        [
            "department",
            "touchpoints",
            "problems owned",
            "problem rate",
            "CSAT",
            "smooth share",
            "first response h",
            "resolution h",
        ],
        [
            (
                row["department"],
                f"{row['touchpoints']:,}",
                f"{row['problems_owned']:,}",
                _pct(row["problem_rate"]),
                _num(row["mean_csat"], 2),
                _pct(row["smooth_share"]),
                _num(row["first_response_hours"]),
                _num(row["resolution_hours"]),
            )
            for row in insights["scorecard"]
        ],
    )
    weekly = insights["scorecard_weekly"]
    weeks = sorted({row["week_start"] for row in weekly})
    rates = {(row["department"], row["week_start"]): row["problem_rate"] for row in weekly}
    series = {
        department: [
            None if rates.get((department, week)) is None else float(rates[(department, week)])
            for week in weeks
        ]
        for department in DEPARTMENTS
    }
    svg = charts.lines(
        [week.strftime("%d %b") for week in weeks],
        {name: values for name, values in series.items() if any(v is not None for v in values)},
        charts.DEPARTMENT_COLORS,
        label="Problem rate per department and week",
        y_label="problems per order touched",
    )
    caption = (
        "The table covers the whole period: problems each department owned (tickets it caused, late or "
        "damaged deliveries for shipping, cancellations for sales) per distinct order it touched, the CSAT "
        "and smooth share of the journeys it touched, and the median time to support's first response and "
        "to resolution over all tickets. The chart shows the problem rate week by week."
    )
    return table + _figure("scorecard", svg, caption)


def _csat(insights: Insights) -> str:
    owners = ["none", *DEPARTMENTS]
    values = {
        (row["outcome"], row["owner"]): None if row["mean_csat"] is None else float(row["mean_csat"])
        for row in insights["csat"]
    }
    outcomes = [outcome for outcome in OUTCOMES if any((outcome, owner) in values for owner in owners)]
    svg = charts.heatmap(
        [outcome.replace("_", " ") for outcome in outcomes],
        owners,
        {(o.replace("_", " "), owner): values.get((o, owner)) for o in outcomes for owner in owners},
        label="Mean CSAT by journey outcome and the department that owned the problem",
        value_format="{:.2f}",
        low=1.0,
        high=5.0,
        hue=200,
        row_title="outcome",
        column_title="problem owner",
    )
    caption = (
        "Mean CSAT (1 to 5) of rated journeys, by outcome and by the department that caused the journey's "
        "problem ('none' when there was none). Grey cells had no rated journey."
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
        value_format="{:.0%}",
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


def _paths(insights: Insights) -> str:
    rows = insights["paths"]
    shares = {outcome: [float(row[f"{outcome}_share"] or 0) for row in rows] for outcome in OUTCOMES}
    svg = charts.stacked_bars_100(
        [row["journey_path"] for row in rows],
        shares,
        charts.OUTCOME_COLORS,
        [f"{row['journeys']:,} ({_pct(row['share_of_journeys'])})" for row in rows],
        label="Most common journey paths and how they ended",
    )
    caption = (
        "The ten most common sequences of departments a journey passed through, each split by outcome; "
        "the number after each bar is how many journeys took that path."
    )
    return _figure("paths", svg, caption)


def _at_risk(insights: Insights) -> str:
    rows = insights["at_risk"]
    if not rows:
        return "<p>No customer is at risk.</p>"
    return _table(
        ["customer", "health", "last journey", "orders", "open tickets", "CSAT", "last order"],
        [
            (
                row["customer_key"],
                row["health_score"],
                str(row["last_journey_outcome"]).replace("_", " "),
                row["orders"],
                row["open_tickets"],
                _num(row["mean_csat"]),
                str(row["last_order_at"])[:16],
            )
            for row in rows
        ],
    )


def render(insights: Insights, *, source: str, generated_at: dt.datetime) -> str:
    """The whole report page as one string."""
    outcomes = insights.outcome_counts()
    total = sum(outcomes.values())
    customers = insights.customers()
    kpis = [
        ("journeys", f"{total:,}"),
        ("smooth", _pct(_share(outcomes["smooth"], total))),
        ("lost", _pct(_share(outcomes["lost"], total), 1)),
        ("customers", f"{int(customers.get('customers') or 0):,}"),
        ("at risk", f"{int(customers.get('at_risk') or 0):,}"),
        ("mean health", _num(customers.get("mean_health"), 0)),
    ]
    kpi_html = "".join(f'<div class="kpi"><b>{escape(v)}</b>{escape(k)}</div>' for k, v in kpis)
    sections = [
        ("Outcomes over time", _outcome_mix(insights)),
        ("Stage funnel", _funnel(insights)),
        ("Hand-offs between departments", _handoffs(insights)),
        ("Department scorecard", _scorecard(insights)),
        ("CSAT by outcome and owner department", _csat(insights)),
        ("Cohort retention", _retention(insights)),
        ("Top journey paths", _paths(insights)),
        ("Customers at risk", _at_risk(insights)),
    ]
    body = "".join(f"<section><h2>{escape(title)}</h2>{html}</section>" for title, html in sections)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Journeys report</title><style>{STYLE}</style></head><body>"
        "<h1>Customer journeys</h1>"
        f'<p class="meta">Generated {generated_at:%Y-%m-%d %H:%M} UTC from {escape(source)}. One journey is '
        "one order, followed across sales, shipping and support.</p>"
        f'<div class="kpis">{kpi_html}</div>{body}</body></html>'
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
