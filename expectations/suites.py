"""The expectation suites, as code: one suite per table, one name and severity per expectation.

Names are stable (`<schema>.<table>.<rule>`): the results table, the summary and the severity
overrides (JOURNEYS_QUALITY_SEVERITY) use them. A `critical` failure stops the pipeline; a
`warning` is reported and the run goes on; `info` is only recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

import great_expectations as gx
from great_expectations.expectations.core.expect_column_values_to_be_between import (
    ExpectColumnValuesToBeBetween,
)
from great_expectations.expectations.core.expect_column_values_to_be_in_set import ExpectColumnValuesToBeInSet
from great_expectations.expectations.core.expect_column_values_to_be_unique import (
    ExpectColumnValuesToBeUnique,
)
from great_expectations.expectations.core.expect_column_values_to_not_be_null import (
    ExpectColumnValuesToNotBeNull,
)
from great_expectations.expectations.core.expect_table_row_count_to_be_between import (
    ExpectTableRowCountToBeBetween,
)
from great_expectations.expectations.expectation import Expectation

from expectations.errors import QualityError
from expectations.results import STAGES, Stage
from expectations.unexpected_rows import UnexpectedRowsWithExamples
from journeys_core.settings import QualitySettings, Severity

__all__ = ["DEFAULT_SCHEMAS", "STAGES", "Schemas", "Stage", "TableSuite", "suites_for"]

# Contract v1's closed list (streams/contract.py; a unit test keeps the two equal). Copied, not
# imported: the quality stage depends on the shared core only.
EVENT_TYPES: Final = (
    "sales.check_in",
    "sales.lead_created",
    "sales.order_cancelled",
    "sales.order_placed",
    "sales.payment_captured",
    "sales.quote_sent",
    "sales.refund_issued",
    "shipping.check_in",
    "shipping.delivered",
    "shipping.delivery_attempted",
    "shipping.return_received",
    "shipping.shipment_created",
    "shipping.shipment_dispatched",
    "support.agent_replied",
    "support.check_in",
    "support.csat_submitted",
    "support.ticket_escalated",
    "support.ticket_opened",
    "support.ticket_reopened",
    "support.ticket_resolved",
)
DEPARTMENTS: Final = ("sales", "shipping", "support")
OUTCOMES: Final = ("cancelled", "unresolved", "smooth", "recovered", "lost", "silent", "in_progress")
SCHEMA_VERSIONS: Final = (1,)


@dataclass(frozen=True)
class Schemas:
    """Where the checked tables live; tests point these at scratch copies."""

    raw: str = "raw"
    marts: str = "marts"


DEFAULT_SCHEMAS: Final = Schemas()


@dataclass(frozen=True)
class TableSuite:
    """One table and the suite that validates it (the suite is named `<schema>.<table>`)."""

    stage: Stage
    schema: str  # the schema actually read (see Schemas)
    table: str
    suite: gx.ExpectationSuite

    @property
    def expectations(self) -> list[Expectation]:
        return list(self.suite.expectations)


def expectation_name(expectation: Expectation) -> str:
    """The stable name a suite gave an expectation."""
    return str((expectation.meta or {})["name"])


def _named(name: str, why: str, expectation: Expectation, severity: Severity = "critical") -> Expectation:
    expectation.meta = {"name": name}
    expectation.description = why
    expectation.severity = severity  # type: ignore[assignment]  # GX coerces the string to its enum
    return expectation


def _rate(schema: str, table: str, column: str, what: str) -> Expectation:
    return _named(
        f"{schema}.{table}.{column}_between_0_and_1",
        f"{what} is a share, between 0 and 1",
        ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=1),
    )


def _non_negative(schema: str, table: str, column: str, what: str) -> Expectation:
    return _named(
        f"{schema}.{table}.{column}_non_negative",
        f"{what} is never negative",
        ExpectColumnValuesToBeBetween(column=column, min_value=0),
    )


# GX puts the table in place of {batch}, sometimes as an aliased subquery and sometimes not
# (it depends on whether the query says JOIN): naming it once in a CTE works either way.
_BATCH = "with batch_rows as (select * from {batch}) "
# Days a journey may wait for its sales.order_placed (departments publish to separate topics).
PLACEMENT_GRACE_DAYS = 14


def _query(name: str, why: str, sql: str, severity: Severity = "critical") -> Expectation:
    return _named(name, why, UnexpectedRowsWithExamples(unexpected_rows_query=sql), severity)


def raw_suites(
    settings: QualitySettings,
    *,
    schemas: Schemas = DEFAULT_SCHEMAS,
    max_future_seconds: int = 86400,
    now: dt.datetime | None = None,
) -> list[TableSuite]:
    """Suites for what the loader landed: raw.touchpoints and raw.quarantine.

    `max_future_seconds` is the loader's own limit (JOURNEYS_LOADER_MAX_FUTURE_SECONDS): an event
    further ahead of `now` than that should never have been loaded.
    """
    raw = schemas.raw
    latest = (now or dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=max_future_seconds)
    touchpoints = [
        _named(
            "raw.touchpoints.event_id_unique",
            "each event id (the idempotency key) is stored once",
            ExpectColumnValuesToBeUnique(column="event_id"),
        ),
        _named(
            "raw.touchpoints.event_type_known",
            "every event type is one of contract v1's",
            ExpectColumnValuesToBeInSet(column="event_type", value_set=list(EVENT_TYPES)),
        ),
        _named(
            "raw.touchpoints.department_known",
            "every department is sales, shipping or support",
            ExpectColumnValuesToBeInSet(column="department", value_set=list(DEPARTMENTS)),
        ),
        _named(
            "raw.touchpoints.schema_version_supported",
            "every event is of a contract version the models read",
            ExpectColumnValuesToBeInSet(column="schema_version", value_set=list(SCHEMA_VERSIONS)),
        ),
        _named(
            "raw.touchpoints.occurred_at_present",
            "every event says when it happened",
            ExpectColumnValuesToNotBeNull(column="occurred_at"),
        ),
        _named(
            "raw.touchpoints.occurred_at_not_in_future",
            f"no event happened more than {max_future_seconds:,} s after now (the loader's limit)",
            ExpectColumnValuesToBeBetween(column="occurred_at", max_value=latest),
        ),
        _query(
            "raw.touchpoints.amount_non_negative",
            "no quote, order, payment or refund has a negative amount",
            _BATCH + "select event_id, event_type, attributes ->> 'amount' as amount from batch_rows "
            # double precision: DuckDB's bare numeric is decimal(18,3), which a huge amount overflows
            "where cast(attributes ->> 'amount' as double precision) < 0",
        ),
        _query(
            "raw.touchpoints.customer_identified",
            "every event names its customer by id, email or phone",
            _BATCH + "select event_id, event_type, source from batch_rows "
            "where coalesce(trim(customer_id), '') = '' and coalesce(trim(email), '') = '' "
            "and coalesce(trim(phone), '') = ''",
        ),
        _query(
            "raw.touchpoints.order_placed_has_order_id",
            "every sales.order_placed event names its order, or its journey is lost",
            _BATCH + "select event_id, source, occurred_at from batch_rows "
            "where event_type = 'sales.order_placed' and coalesce(trim(order_id), '') = ''",
            "warning",
        ),
        _query(
            "raw.touchpoints.order_placed_once",
            "no order is placed twice under different event ids: an order id reused (by two "
            "systems, or by two simulated data sets) makes its customers look like one",
            # Order ids and counts only: Data Docs and the results table are no place for customers.
            _BATCH + "select nullif(trim(order_id), '') as order_id, count(distinct event_id) as placements "
            "from batch_rows "
            "where event_type = 'sales.order_placed' and coalesce(trim(order_id), '') <> '' "
            "group by nullif(trim(order_id), '') having count(distinct event_id) > 1",
            "warning",
        ),
        _named(
            "raw.touchpoints.volume_within_bounds",
            f"{settings.raw_min_rows:,} or more events"
            + (f", {settings.raw_max_rows:,} at most" if settings.raw_max_rows is not None else "")
            + " (JOURNEYS_QUALITY_RAW_MIN_ROWS, _RAW_MAX_ROWS)",
            ExpectTableRowCountToBeBetween(min_value=settings.raw_min_rows, max_value=settings.raw_max_rows),
        ),
    ]
    share = settings.max_quarantine_share
    quarantine = [
        _query(
            "raw.quarantine.reason_present",
            "every refused record says why, so a person can act on it",
            _BATCH + "select topic, kafka_partition, kafka_offset from batch_rows "
            "where coalesce(trim(reason), '') = ''",
            # Quarantined records never reach the marts: flag it, but let the run go on.
            "warning",
        ),
        _query(
            "raw.quarantine.share_within_bounds",
            f"at most {share:.1%} of records were refused (JOURNEYS_QUALITY_MAX_QUARANTINE_SHARE)",
            # Records loaded since by `journeys quarantine replay` are no longer refused.
            _BATCH + "select refused, loaded from (select "
            "(select count(*) from batch_rows where replayed_at is null) as refused, "
            f"(select count(*) from {raw}.touchpoints) as loaded) as counts "
            f"where refused > {share!r} * (refused + loaded)",
            "warning",
        ),
    ]
    return [
        TableSuite("raw", raw, "touchpoints", gx.ExpectationSuite("raw.touchpoints", touchpoints)),
        TableSuite("raw", raw, "quarantine", gx.ExpectationSuite("raw.quarantine", quarantine)),
    ]


def _impossible_sequences(table: str, key: str, what: str, max_share: float) -> list[Expectation]:
    """Rows whose events came in an impossible order: a warning for any, critical above a share.

    Real source systems record such glitches; the marts keep and flag them, so one must not stop
    the pipeline, but many mean a clock or a feed is broken.
    """
    flagged = (
        f"select {key}, 'impossible sequence of events' as problem from batch_rows "
        "where has_impossible_sequence"
    )
    share = "(select avg(case when has_impossible_sequence then 1.0 else 0.0 end) from batch_rows)"
    return [
        _query(
            f"marts.{table}.no_impossible_sequences",
            f"no {what} has events in an impossible order (e.g. delivered before placed, a reply before "
            "the ticket opened): each is kept and flagged, but its source system's clock or feed is wrong",
            _BATCH + flagged,
            "warning",
        ),
        _query(
            f"marts.{table}.impossible_sequences_below_share",
            f"at most {max_share:.1%} of {what}s have events in an impossible order "
            "(JOURNEYS_QUALITY_MAX_IMPOSSIBLE_SHARE): more means a source's clock or feed is broken",
            _BATCH + flagged + f" and {share} > {max_share!r}",
        ),
    ]


def mart_suites(
    *, schemas: Schemas = DEFAULT_SCHEMAS, max_impossible_share: float = 0.01
) -> list[TableSuite]:
    """Suites for the marts dbt builds: shares, durations, outcomes, and reconciliation with raw."""
    raw, m = schemas.raw, "marts"
    tables: dict[str, list[Expectation]] = {
        "fct_touchpoints": [
            _non_negative(m, "fct_touchpoints", "handoff_seconds", "hand-off latency"),
            _query(
                "marts.fct_touchpoints.reconciles_with_raw",
                "fct_touchpoints holds exactly the valid raw events (raw.touchpoints), no more, no fewer",
                _BATCH + "select cast(r.event_id as text) as event_id, "
                f"'valid raw event missing from the mart' as problem from {raw}.touchpoints as r "
                "where not exists "
                "(select 1 from batch_rows as f where f.event_id = cast(r.event_id as text)) "
                "union all "
                "select f.event_id, 'not a valid raw event' as problem from batch_rows as f "
                f"where not exists (select 1 from {raw}.touchpoints as r "
                "where cast(r.event_id as text) = f.event_id)",
            ),
        ],
        "fct_order_journeys": [
            _named(
                "marts.fct_order_journeys.outcome_accepted",
                "every journey outcome is one of " + ", ".join(OUTCOMES),
                ExpectColumnValuesToBeInSet(column="outcome", value_set=list(OUTCOMES)),
            ),
            _non_negative(m, "fct_order_journeys", "first_response_seconds", "first response"),
            _non_negative(m, "fct_order_journeys", "resolution_seconds", "resolution time"),
            _non_negative(m, "fct_order_journeys", "placed_to_delivered_seconds", "time to delivery"),
            _query(
                "marts.fct_order_journeys.reconciles_with_placed_orders",
                "a journey for every distinct order id of the valid sales.order_placed events, and a "
                "placement time only on those",
                # Journeys whose order_placed has not arrived yet are expected (departments publish to
                # separate topics): they have no placed_at, and the marts treat them as in progress.
                _BATCH + "select placed.order_id, 'placed order without a journey' as problem from "
                f"(select distinct nullif(trim(order_id), '') as order_id from {raw}.touchpoints "
                "where event_type = 'sales.order_placed') as placed "
                "where placed.order_id is not null and not exists "
                "(select 1 from batch_rows as j where j.order_id = placed.order_id) "
                "union all "
                "select j.order_id, 'placement time without a valid sales.order_placed event' as problem "
                "from batch_rows as j where j.placed_at is not null and not exists "
                f"(select 1 from {raw}.touchpoints as r where r.event_type = 'sales.order_placed' "
                "and nullif(trim(r.order_id), '') = j.order_id)",
            ),
            _query(
                "marts.fct_order_journeys.placement_arrives",
                f"every journey's sales.order_placed arrived within {PLACEMENT_GRACE_DAYS} days of its first "
                "touchpoint: one still missing has a mistyped order id, or its placement is in quarantine",
                # Measured against the newest event, not the clock: replayed history is not late.
                # No JOIN keyword: GX leaves the batch unaliased then, which PostgreSQL 15 refuses.
                _BATCH + "select order_id, first_touchpoint_at from (select j.order_id, (select "
                f"min(t.occurred_at) from {m}.fct_touchpoints as t where t.order_id = j.order_id) as "
                "first_touchpoint_at from batch_rows as j where j.placed_at is null) as unplaced "
                f"where first_touchpoint_at < (select max(occurred_at) from {m}.fct_touchpoints) "
                f"- interval '{PLACEMENT_GRACE_DAYS} days'",
                "warning",
            ),
            *_impossible_sequences("fct_order_journeys", "order_id", "journey", max_impossible_share),
        ],
        "fct_tickets": [
            _non_negative(m, "fct_tickets", "first_response_seconds", "first response"),
            _non_negative(m, "fct_tickets", "resolution_seconds", "resolution time"),
            *_impossible_sequences("fct_tickets", "ticket_id", "ticket", max_impossible_share),
        ],
        "dim_customers": [
            _named(
                "marts.dim_customers.last_journey_outcome_accepted",
                "every customer's last journey outcome is one of " + ", ".join(OUTCOMES),
                ExpectColumnValuesToBeInSet(column="last_journey_outcome", value_set=list(OUTCOMES)),
            ),
            _named(
                "marts.dim_customers.health_score_between_0_and_100",
                "the health score is on its documented 0-100 scale",
                ExpectColumnValuesToBeBetween(column="health_score", min_value=0, max_value=100),
            ),
        ],
        "fct_untyped_attributes": [
            _query(
                "marts.fct_untyped_attributes.none",
                "every event attribute has its type: an event listed here was loaded under an older "
                "contract with an attribute the warehouse cannot hold, which the marts keep as unknown: "
                "correct it with `journeys events correct`",
                _BATCH + "select event_id, untyped_attributes as problem from batch_rows",
                "warning",
            ),
        ],
        "mart_department_scorecard": [
            # Problems per order touched, not a share: one order can bring shipping two problems
            # (late and damaged), so only the lower bound holds.
            _non_negative(m, "mart_department_scorecard", "problem_rate", "problems per order touched"),
            _rate(m, "mart_department_scorecard", "smooth_share", "the smooth share of journeys touched"),
            _non_negative(m, "mart_department_scorecard", "median_first_response_hours", "first response"),
            _non_negative(m, "mart_department_scorecard", "median_resolution_hours", "resolution time"),
        ],
        "mart_handoffs": [
            _non_negative(m, "mart_handoffs", "p50_latency_hours", "median hand-off latency"),
            _non_negative(m, "mart_handoffs", "p90_latency_hours", "p90 hand-off latency"),
            _non_negative(m, "mart_handoffs", "mean_latency_hours", "mean hand-off latency"),
        ],
        "mart_journey_funnel": [
            _rate(m, "mart_journey_funnel", "share_of_placed", "the share of placed orders reaching a stage"),
            _non_negative(m, "mart_journey_funnel", "p50_hours_from_placed", "median time to a stage"),
            _non_negative(m, "mart_journey_funnel", "p90_hours_from_placed", "p90 time to a stage"),
        ],
        "mart_cohort_retention": [
            _rate(m, "mart_cohort_retention", "retention_rate", "repeat-purchase retention"),
        ],
        "mart_journey_paths": [
            _rate(m, "mart_journey_paths", column, f"a path's {column.replace('_', ' ')}")
            for column in (
                "share_of_journeys",
                "smooth_share",
                "recovered_share",
                "lost_share",
                "silent_share",
                "unresolved_share",
                "cancelled_share",
                "in_progress_share",
            )
        ],
    }
    return [
        TableSuite("marts", schemas.marts, table, gx.ExpectationSuite(f"marts.{table}", expectations))
        for table, expectations in tables.items()
    ]


def all_expectations(table_suites: Iterable[TableSuite]) -> Iterator[tuple[TableSuite, Expectation]]:
    for table_suite in table_suites:
        for expectation in table_suite.expectations:
            yield table_suite, expectation


def apply_severities(table_suites: list[TableSuite], overrides: Mapping[str, Severity]) -> None:
    """Set the severities people configured; a name no suite has is an error, not a silent no-op."""
    by_name = {expectation_name(e): e for _, e in all_expectations(table_suites)}
    unknown = sorted(set(overrides) - set(by_name))
    if unknown:
        raise QualityError(
            f"JOURNEYS_QUALITY_SEVERITY names no expectation {', '.join(unknown)}: use names from "
            "`journeys check raw --list` or `journeys check marts --list`"
        )
    for name, severity in overrides.items():
        by_name[name].severity = severity  # type: ignore[assignment]  # GX coerces to its enum


def suites_for(
    stage: Stage,
    settings: QualitySettings,
    *,
    schemas: Schemas = DEFAULT_SCHEMAS,
    max_future_seconds: int = 86400,
    now: dt.datetime | None = None,
) -> list[TableSuite]:
    """The suites one gate runs, with the configured severities applied."""
    by_stage: dict[Stage, list[TableSuite]] = {
        "raw": raw_suites(settings, schemas=schemas, max_future_seconds=max_future_seconds, now=now),
        "marts": mart_suites(schemas=schemas, max_impossible_share=settings.max_impossible_share),
    }
    # Both stages, so that a name from either is known and a typo in any is reported.
    apply_severities(by_stage["raw"] + by_stage["marts"], settings.severity)
    return by_stage[stage]
