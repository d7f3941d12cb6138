"""What the marts say, read once: the figures behind the run summary and the HTML report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from journeys_core.warehouse import Row, read_queries

# Display order of journey outcomes: how well a journey ended, best first. 'silent' (a problem nobody
# heard about) is being added to the marts; an outcome not named here is shown after these, by name.
OUTCOMES = ("smooth", "recovered", "silent", "in_progress", "unresolved", "lost", "cancelled")
# Listed even when no journey ended so (a zero): every warehouse has them. Others only when present.
ALWAYS_LISTED = ("smooth", "recovered", "in_progress", "unresolved", "lost", "cancelled")
DEPARTMENTS = ("sales", "shipping", "support")

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
        select stage_number, stage, orders, share_of_placed, p50_hours_from_placed, p90_hours_from_placed
        from marts.mart_journey_funnel order by stage_number""",
    "handoffs": """
        select from_department, to_department, handoffs, journeys, p50_latency_hours, p90_latency_hours
        from marts.mart_handoffs order by handoffs desc""",
    # Whole-period figures come from the facts: orders and customers touched are distinct per
    # week in the weekly mart, so summing its weeks would count an order once per week it was touched.
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
                   count(first_response_seconds) as answered_tickets,
                   count(resolution_seconds) as resolved_tickets
            from marts.fct_tickets
        )
        select weekly.department, weekly.touchpoints, weekly.problems_owned,
               weekly.problems_owned * 1.0 / nullif(journeys.orders_touched, 0) as problem_rate,
               journeys.mean_csat, journeys.rated_journeys, journeys.smooth_share,
               support_times.first_response_hours, support_times.resolution_hours,
               support_times.answered_tickets, support_times.resolved_tickets
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
    "at_risk": """
        select customer_key, health_score, last_journey_outcome, orders, open_tickets, mean_csat,
               last_order_at
        from marts.dim_customers where is_at_risk
        order by health_score, last_order_at desc, customer_key limit 10""",
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


def ordered_outcomes(outcomes: Iterable[str]) -> list[str]:
    """Each outcome once, in OUTCOMES order; outcomes not known here follow, by name."""
    present = set(outcomes)
    known = [outcome for outcome in OUTCOMES if outcome in present]
    return known + sorted(present - set(OUTCOMES))


def read_insights(warehouse_url: str) -> Insights:
    """Everything the summary and the report show, in one read-only pass over the marts."""
    return Insights(read_queries(warehouse_url, QUERIES))
