"""What the marts say, read once: the figures behind the run summary and the HTML report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from journeys.formatting import count, share
from journeys_core.warehouse import Row, read_queries

# Display order of journey outcomes: how well a journey ended, best first. An outcome not named here
# is shown after these, by name.
OUTCOMES = ("smooth", "recovered", "silent", "in_progress", "unresolved", "lost", "cancelled")
# Listed even when no journey ended so (a zero): the marts know them all. Others only when present.
ALWAYS_LISTED = OUTCOMES
DEPARTMENTS = ("sales", "shipping", "support")
# What an outcome a reader may not guess means, in the report and the terminal summary alike.
OUTCOME_EXPLANATIONS = {
    "silent": "a problem nobody heard about: no ticket, refund, return or rating; check in with them",
}
# Why a customer needs a check-in: how their last journey ended (docs/metrics.md, "At risk").
AT_RISK_REASONS = {
    "lost": "a problem, then a rating of 1 or 2 or a refund",
    "unresolved": "a ticket still open or a delivery overdue",
    "silent": "a problem nobody heard about: no ticket, refund, return or rating",
}

# Plain SQL both DuckDB and PostgreSQL run as written: the marts already did the hard work.
QUERIES = {
    "outcomes": """
        select outcome, count(*) as journeys, avg(csat_score) as mean_csat, count(csat_score) as rated
        from marts.fct_order_journeys group by outcome""",
    "outcomes_by_week": """
        select cast(date_trunc('week', placed_at) as date) as week_start, outcome, count(*) as journeys
        from marts.fct_order_journeys
        where placed_at is not null  -- an order whose placement has not arrived yet has no week
        group by 1, 2 order by 1, 2""",
    "funnel": """
        select stage_number, stage, orders, share_of_placed, timed_orders, p50_hours_from_placed,
               p90_hours_from_placed
        from marts.mart_journey_funnel order by stage_number""",
    "handoffs": """
        select from_department, to_department, handoffs, journeys, p50_latency_hours, p90_latency_hours
        from marts.mart_handoffs order by handoffs desc""",
    # Whole-period figures come from the facts: orders and customers touched are distinct per
    # week in the weekly mart, so summing its weeks would count an order once per week it was touched
    # (its rated_journeys too). Medians do not add up either; the tickets they were taken over are
    # counted beside them, as the mart's replied_tickets and resolved_tickets are.
    "scorecard": """
        with weekly as (
            select department, sum(touchpoints) as touchpoints, sum(problems_owned) as problems_owned
            from marts.mart_department_scorecard group by department
        ),
        touched as (
            select distinct department, order_id from marts.fct_touchpoints where order_id is not null
        ),
        journeys as (
            select touched.department, count(*) as orders_touched, avg(j.csat_score) as mean_csat,
                   count(j.csat_score) as rated_journeys,
                   avg(case when j.outcome = 'smooth' then 1.0 when j.outcome is not null then 0.0 end)
                       as smooth_share
            from touched left join marts.fct_order_journeys as j on j.order_id = touched.order_id
            group by touched.department
        ),
        support_times as (
            select 'support' as department,
                   percentile_cont(0.5) within group (order by first_response_seconds) / 3600.0
                       as first_response_hours,
                   percentile_cont(0.5) within group (order by resolution_seconds) / 3600.0
                       as resolution_hours,
                   count(first_response_seconds) as replied_tickets,
                   count(resolution_seconds) as resolved_tickets
            from marts.fct_tickets
        )
        select weekly.department, weekly.touchpoints, weekly.problems_owned,
               weekly.problems_owned * 1.0 / nullif(journeys.orders_touched, 0) as problem_rate,
               journeys.mean_csat, journeys.rated_journeys, journeys.smooth_share,
               support_times.first_response_hours, support_times.resolution_hours,
               support_times.replied_tickets, support_times.resolved_tickets
        from weekly
        left join journeys on journeys.department = weekly.department
        left join support_times on support_times.department = weekly.department
        order by weekly.department""",
    "scorecard_weekly": """
        select department, week_start, orders_touched, problem_rate, problems_owned
        from marts.mart_department_scorecard order by week_start, department""",
    "csat": """
        select outcome, coalesce(problem_owner_department, 'none') as owner,
               avg(csat_score) as mean_csat, count(csat_score) as rated, count(*) as journeys
        from marts.fct_order_journeys group by 1, 2""",
    "retention": """
        select cohort_month, months_since_first_order, cohort_customers, retention_rate
        from marts.mart_cohort_retention order by cohort_month, months_since_first_order""",
    "paths": """
        select path_rank, journey_path, journeys, share_of_journeys
        from marts.mart_journey_paths where path_rank <= 10 order by path_rank""",
    # Counted from the facts rather than read from the mart's <outcome>_share columns, so an
    # outcome the mart has no column for yet still has its part of each bar.
    "path_outcomes": """
        select paths.path_rank, j.outcome, count(*) as journeys
        from marts.mart_journey_paths as paths
        join marts.fct_order_journeys as j on j.journey_path is not distinct from paths.journey_path
        where paths.path_rank <= 10 group by 1, 2 order by 1, 2""",
    # Why the departments' CSAT are so alike: most rated journeys passed through all of them.
    "csat_coverage": f"""
        select count(csat_score) as rated_journeys,
               sum(case when csat_score is not null and departments_touched >= {len(DEPARTMENTS)}
                        then 1 else 0 end) as rated_touching_all
        from marts.fct_order_journeys""",
    "customers": """
        select count(*) as customers,
               sum(case when is_at_risk then 1 else 0 end) as at_risk,
               avg(health_score) as mean_health, count(health_score) as scored_customers,
               sum(case when is_repeat_customer then 1 else 0 end) as repeat_customers
        from marts.dim_customers""",
    # The lowest health of each reason in turn: by health alone, silent customers (no open ticket
    # weighs on them) never reached the top of the list.
    "at_risk": """
        select customer_key, health_score, last_journey_outcome, orders, open_tickets, mean_csat,
               last_order_at
        from (
            select *, row_number() over (
                partition by last_journey_outcome order by health_score, last_order_at desc, customer_key
            ) as rank_in_reason
            from marts.dim_customers where is_at_risk
        ) as ranked
        order by rank_in_reason, health_score, last_order_at desc, customer_key limit 10""",
    "at_risk_reasons": """
        select last_journey_outcome as outcome, count(*) as customers
        from marts.dim_customers where is_at_risk group by 1""",
    # What the figures leave out or hold as unknown. Journeys are counted once from the facts: the
    # scorecard's impossible_sequences counts a journey in every department-week that touched it.
    "data_quality": """
        select (select count(*) from marts.fct_order_journeys) as journeys,
               (select count(*) from marts.fct_order_journeys where has_impossible_sequence)
                   as impossible_journeys,
               (select count(*) from marts.fct_tickets) as tickets,
               (select count(*) from marts.fct_tickets where has_impossible_sequence) as impossible_tickets,
               (select count(*) from marts.fct_untyped_attributes) as untyped_events""",
}


@dataclass(frozen=True)
class Insights:
    """Rows per question, as the QUERIES above answer them."""

    rows: dict[str, list[Row]]

    def __getitem__(self, name: str) -> list[Row]:
        return self.rows[name]

    @property
    def journeys(self) -> int:
        return sum(int(row["journeys"]) for row in self.rows["outcomes"])

    def outcome_counts(self) -> dict[str, int]:
        """Journeys per outcome in display order: the usual ones always, any other when present."""
        counts = {str(row["outcome"]): int(row["journeys"]) for row in self.rows["outcomes"]}
        return {outcome: counts.get(outcome, 0) for outcome in ordered_outcomes([*ALWAYS_LISTED, *counts])}

    def csat(self) -> tuple[float | None, int]:
        """Mean CSAT of all rated journeys and how many were rated."""
        rated = sum(int(row.get("rated") or 0) for row in self.rows["outcomes"])
        total = sum(
            float(row["mean_csat"]) * int(row.get("rated") or 0)
            for row in self.rows["outcomes"]
            if row["mean_csat"] is not None
        )
        return (total / rated if rated else None), rated

    def slowest_handoffs(self, limit: int = 5) -> list[Row]:
        timed = [row for row in self.rows["handoffs"] if row["p50_latency_hours"] is not None]
        return sorted(timed, key=lambda row: -float(row["p50_latency_hours"]))[:limit]

    def customers(self) -> dict[str, Any]:
        return self.rows["customers"][0] if self.rows["customers"] else {}

    def at_risk_reasons(self) -> dict[str, int]:
        """Customers at risk per reason, those with any: lost, unresolved, silent, then any other."""
        counts = {str(row["outcome"]): int(row["customers"]) for row in self.rows.get("at_risk_reasons", [])}
        reasons = [reason for reason in AT_RISK_REASONS if reason in counts]
        reasons += [reason for reason in ordered_outcomes(counts) if reason not in AT_RISK_REASONS]
        return {reason: counts[reason] for reason in reasons if counts[reason]}

    def quality_notes(self) -> list[str]:
        rows = self.rows.get("data_quality") or [{}]
        return quality_notes(rows[0])


def _verb(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def quality_notes(row: Mapping[str, Any]) -> list[str]:
    """What the figures keep but leave out of durations, or hold as unknown: one sentence each, none
    when there is nothing to say. `row` is the data_quality query's."""
    notes = []
    journeys, impossible = int(row.get("journeys") or 0), int(row.get("impossible_journeys") or 0)
    if impossible:
        notes.append(
            f"{count(impossible, 'journey')} ({share(impossible / journeys if journeys else None)}) "
            f"{_verb(impossible, 'has', 'have')} events in an impossible order (delivered before placed, "
            "delivered before dispatched, a ticket handled before it opened): kept, left out of durations."
        )
    tickets, odd_tickets = int(row.get("tickets") or 0), int(row.get("impossible_tickets") or 0)
    if odd_tickets:
        notes.append(
            f"{count(odd_tickets, 'ticket')} ({share(odd_tickets / tickets if tickets else None)}) "
            f"{_verb(odd_tickets, 'was', 'were')} replied to, escalated, resolved or reopened before "
            f"{_verb(odd_tickets, 'it was', 'they were')} opened: kept; nothing before the opening counts "
            "as a response or a resolution time."
        )
    untyped = int(row.get("untyped_events") or 0)
    if untyped:
        notes.append(
            f"{count(untyped, 'event')} {_verb(untyped, 'has', 'have')} an attribute the warehouse could "
            "not type (kept as unknown): marts.fct_untyped_attributes lists them to correct at their source."
        )
    return notes


def at_risk_breakdown(reasons: Mapping[str, int], *, explained: bool = False) -> str:
    """The reasons in a row, "86 lost, 28 unresolved and 62 silent"; when `explained`, each says what
    it means: "86 lost (a problem, then ...); 28 unresolved (...)"."""
    parts = [
        f"{n:,} {reason.replace('_', ' ')}"
        + (f" ({AT_RISK_REASONS[reason]})" if explained and reason in AT_RISK_REASONS else "")
        for reason, n in reasons.items()
    ]
    if explained or len(parts) <= 1:
        return "; ".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def ordered_outcomes(outcomes: Iterable[str]) -> list[str]:
    """Each outcome once, in OUTCOMES order; outcomes not known here follow, by name."""
    present = set(outcomes)
    known = [outcome for outcome in OUTCOMES if outcome in present]
    return known + sorted(present - set(OUTCOMES))


def read_insights(warehouse_url: str) -> Insights:
    """Everything the summary and the report show, in one read-only pass over the marts."""
    return Insights(read_queries(warehouse_url, QUERIES))
