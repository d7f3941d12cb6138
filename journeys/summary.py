"""The terminal summary at the end of `journeys run`: what a person wants to see first."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from journeys.formatting import count, share
from journeys.insights import OUTCOME_EXPLANATIONS, Insights, at_risk_breakdown
from journeys_core.warehouse import Row


def csat_footnote(rows: list[Row]) -> str:
    """Under the scorecard: what its CSAT is, over how many rated journeys, and why the departments'
    values are so often equal. (In the footnote, not the cells: the table fits 80 columns.)"""
    rated = [(str(row["department"]), int(row.get("rated_journeys") or 0)) for row in rows]
    if len({n for _, n in rated}) == 1:
        over = f" (over the same {count(rated[0][1], 'rated journey')} for each)"
    elif rated:
        over = " (rated journeys: " + ", ".join(f"{department} {n:,}" for department, n in rated) + ")"
    else:
        over = ""
    return (
        f"CSAT: mean rating of the journeys a department touched{over}; most rated journeys touch every "
        "department, so the values are often equal"
    )


def _hours(value: Any) -> str:
    return "-" if value is None else f"{float(value):,.1f} h"


def outcomes_table(insights: Insights) -> Table:
    counts = insights.outcome_counts()
    total = sum(counts.values())
    explained = [
        f"{outcome.replace('_', ' ')}: {OUTCOME_EXPLANATIONS[outcome]}"
        for outcome in counts
        if outcome in OUTCOME_EXPLANATIONS
    ]
    table = Table(
        title=f"Journeys by outcome ({total:,} orders)",
        caption="\n".join(explained) or None,
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("outcome")
    table.add_column("journeys", justify="right")
    table.add_column("share", justify="right")
    table.add_column("", min_width=20)
    for outcome, journeys in counts.items():
        bar = "█" * round(30 * journeys / (total or 1))
        table.add_row(
            escape(outcome.replace("_", " ")),
            f"{journeys:,}",
            share(journeys / total if total else None),
            bar,
        )
    return table


def scorecard_table(insights: Insights) -> Table:
    table = Table(
        title="Department scorecard (whole period)",
        caption="rate: problems caused per order touched; reply, resolved: median\n"
        + csat_footnote(insights["scorecard"]),
        title_justify="left",
        caption_justify="left",
    )
    for name, justify in (
        ("department", "left"),
        ("events", "right"),
        ("problems", "right"),
        ("rate", "right"),
        ("CSAT", "right"),
        ("smooth", "right"),
        ("1st reply", "right"),
        ("resolved", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in insights["scorecard"]:
        table.add_row(
            row["department"],
            f"{int(row['touchpoints']):,}",
            f"{int(row['problems_owned']):,}",
            share(row["problem_rate"]),
            "-" if row["mean_csat"] is None else f"{float(row['mean_csat']):.2f}",
            share(row["smooth_share"]),
            _hours(row["first_response_hours"]),
            _hours(row["resolution_hours"]),
        )
    return table


def handoffs_table(insights: Insights) -> Table:
    table = Table(title="Slowest hand-offs (median wait)", title_justify="left")
    table.add_column("from → to")
    table.add_column("hand-offs", justify="right")
    table.add_column("p50", justify="right")
    table.add_column("p90", justify="right")
    for row in insights.slowest_handoffs(3):
        table.add_row(
            f"{row['from_department']} → {row['to_department']}",
            f"{int(row['handoffs']):,}",
            _hours(row["p50_latency_hours"]),
            _hours(row["p90_latency_hours"]),
        )
    return table


def at_risk_table(insights: Insights) -> Table:
    customers = insights.customers()
    at_risk = int(customers.get("at_risk") or 0)
    total = int(customers.get("customers") or 0)
    reasons = insights.at_risk_reasons()
    table = Table(
        title=f"Customers at risk: {at_risk:,} of {total:,}",
        caption="no check-in since their last journey went badly"
        + (f":\n{escape(at_risk_breakdown(reasons))}" if reasons else ""),  # outcomes are data
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("customer")
    table.add_column("health", justify="right")
    table.add_column("reason")
    table.add_column("open tickets", justify="right")
    for row in insights["at_risk"][:5]:
        table.add_row(
            escape(str(row["customer_key"])),  # from the data: never markup
            str(row["health_score"]),
            escape(str(row["last_journey_outcome"]).replace("_", " ")),
            str(row["open_tickets"]),
        )
    return table


def run_summary(insights: Insights) -> Group:
    # What the figures keep but leave out of durations, or hold as unknown: under the outcomes they qualify.
    notes: list[RenderableType] = [Text(note) for note in insights.quality_notes()]
    return Group(
        outcomes_table(insights),
        *notes,
        scorecard_table(insights),
        handoffs_table(insights),
        at_risk_table(insights),
    )
