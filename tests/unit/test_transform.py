"""The transform wrapper without a warehouse: profile environment, dbt arguments, summaries, errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import SecretStr

from journeys.errors import describe
from journeys.transform import (
    TransformError,
    _explain_exception,
    check_warehouse,
    dbt_arguments,
    dbt_environment,
    summarise,
    transform,
)
from journeys_core.settings import BusinessSettings, PrivacySettings, WarehouseSettings
from journeys_core.warehouse import parse_url

KEY = PrivacySettings(pii_key=SecretStr("s3cret key\\x"))
BUSINESS = BusinessSettings(timezone="America/Sao_Paulo")


def test_a_hooks_refusal_is_its_own_sentence_without_dbts_wrapping() -> None:
    raised = Exception(
        "Compilation Error in operation journeys-on-run-start-1 (./dbt_project.yml)\n  JOURNEYS_PII_KEY "
        "is not the key: run `journeys transform --full-refresh` to hash everything again\n\n  > in "
        "macro journeys_check_pii_key (macros/pii.sql)\n  > called by operation journeys-on-run-start-1"
    )
    assert _explain_exception(raised, None) == (
        "JOURNEYS_PII_KEY is not the key: run `journeys transform --full-refresh` to hash everything again"
    )


def test_duckdb_environment_points_dbt_at_the_file(tmp_path: Path) -> None:
    env = dbt_environment(parse_url(f"duckdb:///{tmp_path}/w.duckdb"), KEY, BUSINESS)
    assert env["JOURNEYS_DBT_TARGET"] == "duckdb"
    assert env["JOURNEYS_DBT_DUCKDB_PATH"] == str(tmp_path / "w.duckdb")
    assert env["JOURNEYS_PII_KEY"] == "s3cret key\\x"
    # dbt_project.yml reads the zone from the environment, even when it was set in .env
    assert env["JOURNEYS_BUSINESS_TIMEZONE"] == "America/Sao_Paulo"
    # Only transform() keeps the file open (it releases it); Airflow's tasks share this environment.
    assert "JOURNEYS_DBT_DUCKDB_KEEP_OPEN" not in env
    assert "PGOPTIONS" not in env


def test_postgres_environment_keeps_the_password_secret_and_the_key_in_the_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=0")
    url = "postgresql+psycopg://ana:p%40ss@db.example:6543/journeys?sslmode=require"
    env = dbt_environment(parse_url(url), KEY, BUSINESS)
    assert env["JOURNEYS_DBT_TARGET"] == "postgres"
    assert (env["JOURNEYS_DBT_PG_HOST"], env["JOURNEYS_DBT_PG_PORT"]) == ("db.example", "6543")
    assert (env["JOURNEYS_DBT_PG_USER"], env["JOURNEYS_DBT_PG_DBNAME"]) == ("ana", "journeys")
    assert env["JOURNEYS_DBT_PG_SSLMODE"] == "require"
    # DBT_ENV_SECRET_ values are scrubbed from dbt's logs
    assert env["DBT_ENV_SECRET_JOURNEYS_PG_PASSWORD"] == "p@ss"
    # libpq splits PGOPTIONS on spaces: the key's space and backslash are escaped, others kept
    assert env["PGOPTIONS"] == "-c statement_timeout=0 -c journeys.pii_key=s3cret\\ key\\\\x"


def test_dbt_arguments() -> None:
    args = dbt_arguments(
        "build",
        target="duckdb",
        full_refresh=True,
        select=["fct_order_journeys+"],
        exclude=["test_type:unit"],
        variables={"journeys__as_of": "2026-03-31"},
        target_path=Path("/t"),
    )
    assert args[0] == "build"
    assert args[args.index("--target") + 1] == "duckdb"
    assert "--full-refresh" in args
    assert args[args.index("--select") + 1] == "fct_order_journeys+"
    assert args[args.index("--exclude") + 1] == "test_type:unit"
    assert args[args.index("--vars") + 1] == '{"journeys__as_of": "2026-03-31"}'
    assert args[args.index("--target-path") + 1] == "/t"
    docs = dbt_arguments("docs generate", target="postgres", full_refresh=True)
    assert docs[:2] == ["docs", "generate"] and "--full-refresh" not in docs


def _result(kind: str, name: str, status: str, message: str = "", failures: int | None = None) -> Any:
    node = SimpleNamespace(resource_type=kind, name=name, description=f"what {name} checks")
    return SimpleNamespace(node=node, status=status, message=message, failures=failures, execution_time=0.5)


def test_summary_counts_and_explains_failures() -> None:
    result = SimpleNamespace(
        results=[
            _result("model", "fct_touchpoints", "success", "OK"),
            _result("model", "fct_tickets", "error", "Binder Error:\n  no column x"),
            _result("test", "unique_fct_tickets_ticket_id", "fail", "Got 2 results", failures=2),
            _result("test", "not_null_x", "pass"),
            _result("unit_test", "test_outcome_classification", "pass"),
            _result("test", "accepted_values_y", "warn", "Got 1 result", failures=1),
            _result("model", "dim_customers", "skipped"),
        ]
    )
    summary = summarise("build", "duckdb", False, result, None, elapsed=3.0)
    assert (summary.models, summary.tests_passed, summary.tests_failed) == (1, 2, 1)
    assert (summary.tests_warned, summary.errors, summary.skipped) == (1, 1, 1)
    assert [f.node for f in summary.failures] == ["model fct_tickets", "test unique_fct_tickets_ticket_id"]
    assert summary.failures[0].message == "Binder Error: no column x"
    assert summary.failures[1].message == "2 failing rows (Got 2 results)"
    assert summary.failures[1].explanation == "what unique_fct_tickets_ticket_id checks"
    assert summary.warnings[0].node == "test accepted_values_y"
    assert "FAILED" in summary.headline()


def test_dbt_stopping_before_any_node_is_one_sentence() -> None:
    with pytest.raises(TransformError, match="dbt stopped before building: Parsing Error"):
        summarise("build", "duckdb", False, None, RuntimeError("Parsing Error\n  bad yaml"), elapsed=1.0)


def test_postgres_refuses_the_development_key() -> None:
    with pytest.raises(TransformError, match="JOURNEYS_PII_KEY is not set") as error:
        check_warehouse(parse_url("postgresql://u@127.0.0.1:1/db"), PrivacySettings())
    assert describe(error.value) == str(error.value)


def test_missing_duckdb_warehouse_says_to_ingest_first(tmp_path: Path) -> None:
    with pytest.raises(TransformError, match="does not exist: load events first"):
        transform(WarehouseSettings(url=f"duckdb:///{tmp_path}/none.duckdb"), KEY, as_of=dt.date(2026, 1, 1))
