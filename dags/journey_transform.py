"""journey_transform: raw gate -> dbt (models and their tests as tasks) -> marts gate -> report.

Scheduled on the asset `raw.touchpoints` that journey_ingest announces. The gates are what
`journeys check raw|marts` runs, and a failed critical expectation stops the run; dbt runs through
astronomer-cosmos with dbt_project/profiles.yml, which reads environment variables only: the
connection and the PII key are derived from JOURNEYS_WAREHOUSE_URL and JOURNEYS_PII_KEY when each
task starts (as `journeys transform` does), so no secret is stored with the DAG.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, dag, task
from airflow.sdk.exceptions import AirflowFailException
from cosmos import (
    DbtTaskGroup,
    ExecutionConfig,
    ExecutionMode,
    InvocationMode,
    LoadMode,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
    TestBehavior,
)

from journeys.transform import DBT_PROJECT_DIR
from journeys_core.settings import AirflowSettings, WarehouseSettings
from journeys_core.warehouse import parse_url

SETTINGS = AirflowSettings()
# The profile's output for this warehouse; the connection itself is only read at run time.
ON_DUCKDB = parse_url(WarehouseSettings().url).kind == "duckdb"
DBT_TARGET = "duckdb" if ON_DUCKDB else "postgres"
# Cosmos checks that dbt exists even though it runs dbt in-process: the one next to this Python.
DBT_EXECUTABLE = shutil.which("dbt") or str(Path(sys.executable).with_name("dbt"))

# What the report task writes, for dashboards or DAGs that want to follow it.
JOURNEY_REPORT = Asset(name="journeys.report", uri="x-journeys://report/journeys", group="journeys")


def dbt_connection(context: Any, operator: Any) -> None:
    """Cosmos interceptor: the environment profiles.yml reads, built when the dbt task runs."""
    from airflow.sdk.log import mask_secret

    from journeys.transform import TransformError, check_warehouse, dbt_environment
    from journeys_core.settings import BusinessSettings, PrivacySettings

    target = parse_url(WarehouseSettings().url)
    privacy = PrivacySettings()
    try:
        check_warehouse(target, privacy)  # one clear sentence instead of a page of dbt errors
    except TransformError as error:
        raise AirflowFailException(str(error)) from error  # a setting or a load to fix: no retry helps
    business = BusinessSettings()
    environment = dbt_environment(target, privacy, business)
    for name in ("JOURNEYS_PII_KEY", "DBT_ENV_SECRET_JOURNEYS_PG_PASSWORD"):
        if environment.get(name):
            mask_secret(environment[name])  # redacted wherever a log line would show it
    # dbt's results stay in the task's own copy of the project, where the callback below reads them.
    operator.env = {**(operator.env or {}), **environment, "DBT_TARGET_PATH": "target"}
    # Outcomes are judged at the run's date on the business's calendar, so a re-run of the same
    # run builds the same marts.
    run_after = context["dag_run"].run_after.astimezone(business.zone)
    operator.vars = {**(operator.vars or {}), "journeys__as_of": run_after.date().isoformat()}


def fail_failed_tests_for_good(project_dir: str, **_: Any) -> None:
    """Cosmos callback: a failed data test fails its task without retries; the data is what to fix."""
    run_results = Path(project_dir) / "target" / "run_results.json"  # this task's own (dbt_connection)
    if not run_results.is_file():
        return  # dbt stopped before running anything: cosmos reports that, and a retry may help
    failed = [
        f"{result['unique_id'].split('.')[2]} ({result.get('failures') or '?'} failing rows)"
        for result in json.loads(run_results.read_text())["results"]
        if result["status"] == "fail"
    ]
    if failed:
        raise AirflowFailException(
            f"dbt data test failed: {', '.join(failed)}. A retry would find the same rows: see "
            "`journeys transform` for what each test means, fix the data or the model, then "
            "trigger journey_transform again"
        )


def gate(stage: str) -> str:
    """Run one quality gate; a failed critical expectation fails the task without retries."""
    from journeys import pipeline

    result = pipeline.check("raw" if stage == "raw" else "marts", WarehouseSettings())
    if not result.passed:
        names = ", ".join(outcome.name for outcome in result.critical_failures)
        raise AirflowFailException(
            f"the {stage} gate failed ({names}): see `journeys check {stage}` and "
            "quality.expectation_results for the rows that broke it"
        )
    return result.headline()


@dag(
    dag_id="journey_transform",
    schedule=[Asset.ref(name="raw.touchpoints")],
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    # DuckDB allows one writing process per file: one task at a time there.
    max_active_tasks=1 if ON_DUCKDB else 8,
    default_args={
        "retries": SETTINGS.retries,
        "retry_delay": dt.timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "execution_timeout": dt.timedelta(minutes=30),
    },
    tags=["journeys"],
    doc_md=__doc__,
)
def journey_transform() -> None:
    @task(execution_timeout=dt.timedelta(minutes=15))
    def check_raw() -> str:
        """The raw gate: dbt never runs on raw data that failed a critical expectation."""
        return gate("raw")

    dbt = DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(DBT_PROJECT_DIR, install_dbt_deps=False),
        profile_config=ProfileConfig(
            profile_name="journeys",
            target_name=DBT_TARGET,
            profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.DBT_RUNNER,
            dbt_executable_path=DBT_EXECUTABLE,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_LS,
            invocation_mode=InvocationMode.DBT_RUNNER,
            # One task per model runs `dbt build` on it: the model and its tests, in one dbt start-up.
            test_behavior=TestBehavior.BUILD,
            # A test of several models (identity graph converged) runs once all of them are built.
            should_detach_multiple_parents_tests=True,
            emit_datasets=False,  # the report task announces the result instead
            # dbt's unit tests check the SQL, not the data: CI runs them, the schedule does not.
            exclude=["resource_type:unit_test"],
        ),
        operator_args={
            "interceptors": [dbt_connection],
            # Errors (a lock, a dropped connection) are retried; a failed data test is not.
            "callback": fail_failed_tests_for_good,
            # Compiled SQL in the task's rendered fields would store the environment (the key) too.
            "should_store_compiled_sql": False,
        },
    )

    @task(execution_timeout=dt.timedelta(minutes=15))
    def check_marts() -> str:
        """The marts gate: what dbt built, checked before anyone reads it."""
        return gate("marts")

    @task(outlets=[JOURNEY_REPORT], execution_timeout=dt.timedelta(minutes=15))
    def report() -> str:
        """The HTML journey report from the marts; written again, whole, on every run."""
        from journeys import pipeline

        return str(pipeline.write_report(WarehouseSettings()))

    check_raw() >> dbt >> check_marts() >> report()


journey_transform()
