"""Every DAG file imports cleanly, and the DAGs keep the promises the scheduler relies on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT

DAG_FILES = sorted((ROOT / "dags").glob("*.py"))


def parse(path: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=path)


@pytest.mark.parametrize("path", DAG_FILES, ids=[path.name for path in DAG_FILES])
def test_dag_file_imports_without_errors(airflow_db: Path, path: Path) -> None:
    bag = parse(path)
    assert not bag.import_errors, bag.import_errors
    assert bag.dag_ids == [path.stem], "each file defines the one DAG it is named after"


@pytest.fixture(scope="module")
def dags(airflow_db: Path) -> dict[str, Any]:
    bag = parse(ROOT / "dags")
    assert not bag.import_errors, bag.import_errors
    return dict(bag.dags)


def test_every_task_retries_and_times_out(dags: dict[str, Any]) -> None:
    for dag in dags.values():
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag.dag_id}.{task.task_id} never retries"
            assert task.execution_timeout is not None, f"{dag.dag_id}.{task.task_id} has no timeout"


def test_transform_is_scheduled_on_what_ingest_announces(dags: dict[str, Any]) -> None:
    (drain,) = dags["journey_ingest"].tasks
    announced = {outlet.name for outlet in drain.outlets}
    assert announced == {"raw.touchpoints"}
    schedule = dags["journey_transform"].timetable.asset_condition
    assert {ref.name for ref in schedule.objects} == announced


def test_transform_gates_dbt_and_runs_models_and_their_tests_as_tasks(dags: dict[str, Any]) -> None:
    dag = dags["journey_transform"]
    models = {path.stem for path in (ROOT / "dbt_project" / "models").rglob("*.sql")}
    # One `dbt build` task per model: the model, then its tests, before anything downstream runs.
    builds = {
        t.task_id.removeprefix("dbt.").removesuffix("_model_build"): t
        for t in dag.tasks
        if t.task_id.endswith("_model_build")
    }
    assert models <= set(builds), f"models without a task: {models - set(builds)}"
    assert {type(t).__name__ for t in builds.values()} == {"DbtBuildLocalOperator"}
    # A test of several models (the identity graph converged) runs once all of them are built.
    assert "dbt.assert_identity_graph_converged_test" in dag.task_dict
    dbt_tasks = {t.task_id for t in dag.tasks if t.task_id.startswith("dbt.")}
    check_raw, check_marts, report = (dag.task_dict[name] for name in ("check_raw", "check_marts", "report"))
    assert dbt_tasks <= check_raw.get_flat_relative_ids(upstream=False)
    assert dbt_tasks <= check_marts.get_flat_relative_ids(upstream=True)
    assert "check_marts" in report.upstream_task_ids


def test_simulator_is_a_paused_manual_demo(dags: dict[str, Any]) -> None:
    dag = dags["journey_simulator"]
    assert dag.is_paused_upon_creation is True
    assert dag.schedule is None  # triggered by hand: see its docstring


def test_no_secret_is_stored_with_the_serialized_dags(
    airflow_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    password, key = "pw-never-stored-8d1f", "pii-key-never-stored-41c9"
    monkeypatch.setenv("JOURNEYS_WAREHOUSE_URL", f"postgresql://journeys:{password}@db:5432/journeys")
    monkeypatch.setenv("JOURNEYS_AIRFLOW_LOADER_WAREHOUSE_URL", f"postgresql://loader:{password}@db/journeys")
    monkeypatch.setenv("JOURNEYS_PII_KEY", key)
    bag = parse(ROOT / "dags")
    assert not bag.import_errors, bag.import_errors
    for dag in bag.dags.values():
        text = json.dumps(DagSerialization.to_dict(dag), default=str)
        assert password not in text and key not in text, dag.dag_id
