"""The results table: one row per expectation per gate run, kept in the warehouse itself.

Why in the warehouse: analysts and BI tools can then chart data quality next to the data, and
`journeys status` or a DAG can ask "did the last marts gate pass?" with plain SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from expectations.results import ExpectationOutcome
from journeys_core.warehouse import WarehouseUrl, connect_duckdb, connect_postgres

SCHEMA = "quality"
TABLE = f"{SCHEMA}.expectation_results"

# CREATE SCHEMA needs the database privilege even when the schema exists, which the
# journeys_transformer role (journeys_core.roles) does not have: PostgreSQL checks first.
CREATE_SCHEMA = {
    "duckdb": f"create schema if not exists {SCHEMA};",
    "postgresql": (
        f"do $$ begin if to_regnamespace('{SCHEMA}') is null then create schema {SCHEMA}; end if; end $$;"
    ),
}
DDL = f"""
create table if not exists {TABLE} (
    run_id           text not null,
    stage            text not null,
    suite            text not null,
    expectation      text not null,
    expectation_type text not null,
    column_name      text,
    severity         text not null,
    success          boolean not null,
    unexpected_count bigint,
    element_count    bigint,
    observed_value   text,
    examples         text,
    exception        text,
    description      text not null,
    run_time         timestamptz not null,
    primary key (run_id, expectation)
);
"""

COLUMNS = (
    "run_id, stage, suite, expectation, expectation_type, column_name, severity, success, "
    "unexpected_count, element_count, observed_value, examples, exception, description, run_time"
)


def rows(
    run_id: str, stage: str, run_time: dt.datetime, outcomes: Sequence[ExpectationOutcome]
) -> list[tuple[Any, ...]]:
    return [
        (
            run_id,
            stage,
            o.suite,
            o.name,
            o.expectation_type,
            o.column,
            o.severity,
            o.success,
            o.unexpected_count,
            o.element_count,
            o.observed_value,
            o.examples_json(),
            o.exception,
            o.description,
            run_time,
        )
        for o in outcomes
    ]


def write(
    target: WarehouseUrl,
    run_id: str,
    stage: str,
    run_time: dt.datetime,
    outcomes: Sequence[ExpectationOutcome],
) -> int:
    """Insert one row per outcome in one transaction; returns the rows written."""
    values = rows(run_id, stage, run_time, outcomes)
    if target.kind == "duckdb":
        placeholders = ", ".join("?" * len(COLUMNS.split(",")))
        with connect_duckdb(target) as con:
            con.execute("begin")
            con.execute(CREATE_SCHEMA["duckdb"] + DDL)
            con.executemany(f"insert into {TABLE} ({COLUMNS}) values ({placeholders})", values)
            con.execute("commit")
        return len(values)
    placeholders = ", ".join(["%s"] * len(COLUMNS.split(",")))
    with connect_postgres(target) as con:
        with con.cursor() as cur:
            # Two gates starting at once on a new database would race on CREATE SCHEMA.
            cur.execute("select pg_advisory_xact_lock(hashtext('journeys.quality.results'))")
            cur.execute(CREATE_SCHEMA["postgresql"] + DDL)
            cur.executemany(f"insert into {TABLE} ({COLUMNS}) values ({placeholders})", values)
        con.commit()
    return len(values)
