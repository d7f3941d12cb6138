"""The DAGs run end to end with `dag.test()`: simulator -> ingest -> transform, on each warehouse.

On PostgreSQL the tasks log in as the roles `journeys roles` creates, as in docker-compose.yml.

The real embedded broker, the real warehouse, real dbt through cosmos and real GX; each run is a
small simulated data set (300 customers over 30 days), and the marts are checked against the
simulator's ground truth.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from journeys_core.roles import LOADER, TRANSFORMER, ensure_roles
from journeys_core.settings import KafkaSettings, LoaderSettings
from journeys_core.warehouse import parse_url
from streams.simulator import Simulation, SimulationConfig
from tests.events import stream
from tests.helpers import ROOT, load, publish, query
from tests.marts import MARTS, TEST_PII_KEY

CUSTOMERS, DAYS, SEED = 300, 30, 11


def as_role(url: str, role: str) -> str:
    """The same database, logged in as `role` (trust authentication on 127.0.0.1, as in CI)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{role}@{rest.split('@', 1)[1]}"


def dags_for(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Parse dags/ as the dag-processor would, with this test's settings in the environment."""
    from airflow.dag_processing.dagbag import DagBag

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    bag = DagBag(dag_folder=ROOT / "dags")
    assert not bag.import_errors, bag.import_errors
    return dict(bag.dags)


def states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def xcom(run: Any, task_id: str) -> Any:
    (ti,) = [ti for ti in run.get_task_instances() if ti.task_id == task_id]
    return ti.xcom_pull(task_ids=task_id)


def test_simulate_ingest_and_transform_build_the_marts(
    airflow_db: Path,
    kafka: KafkaSettings,
    warehouse_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # whatever a task writes relative to its working directory
    urls = {"JOURNEYS_WAREHOUSE_URL": warehouse_url}
    if warehouse_url.startswith("postgresql"):
        # As docker-compose runs it: dbt and the gates as the transformer, the drain as the loader.
        ensure_roles(warehouse_url)
        urls = {
            "JOURNEYS_WAREHOUSE_URL": as_role(warehouse_url, TRANSFORMER),
            "JOURNEYS_AIRFLOW_LOADER_WAREHOUSE_URL": as_role(warehouse_url, LOADER),
        }
    dags = dags_for(
        {
            "JOURNEYS_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "JOURNEYS_KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
            "JOURNEYS_KAFKA_CONSUMER_GROUP": kafka.consumer_group,
            **urls,
            "JOURNEYS_PII_KEY": TEST_PII_KEY,
            "JOURNEYS_LOADER_IDLE_SECONDS": "1.0",
            "JOURNEYS_QUALITY_OUTPUT_DIR": str(tmp_path / "quality"),
            "JOURNEYS_REPORT_PATH": str(tmp_path / "report" / "journeys.html"),
            "JOURNEYS_AIRFLOW_RETRIES": "0",
        },
        monkeypatch,
    )
    run_after = dt.datetime.now(dt.UTC)
    simulated = dags["journey_simulator"].test(
        run_after=run_after, run_conf={"customers": CUSTOMERS, "days": DAYS, "seed": SEED}
    )
    assert str(simulated.state) == "success", states(simulated)
    start = run_after.date() - dt.timedelta(days=DAYS)
    truth = Simulation(SimulationConfig(customers=CUSTOMERS, days=DAYS, seed=SEED, start=start)).truth()
    assert xcom(simulated, "publish")["events"] == len(truth.events)

    ingested = dags["journey_ingest"].test()
    assert str(ingested.state) == "success", states(ingested)
    drained = xcom(ingested, "drain")
    assert drained["loaded"] == len(truth.events)
    assert drained["quarantined"] == truth.records["malformed"]

    transformed = dags["journey_transform"].test()
    assert str(transformed.state) == "success", states(transformed)
    assert set(states(transformed).values()) == {"success"}

    def count(table: str) -> int:
        return int(query(warehouse_url, f"select count(*) from {table}")[0][0])

    assert count("raw.touchpoints") == len(truth.events)
    assert count("raw.quarantine") == truth.records["malformed"]
    assert count("marts.fct_touchpoints") == len(truth.events)
    orders = {
        str(order) for (order,) in query(warehouse_url, "select order_id from marts.fct_order_journeys")
    }
    assert orders == set(truth.journeys)
    tickets = {str(ticket) for (ticket,) in query(warehouse_url, "select ticket_id from marts.fct_tickets")}
    assert tickets >= set(truth.tickets)
    for table in MARTS:  # every mart has rows, but the list of events dbt could not type
        assert (count(f"marts.{table}") == 0) == (table == "fct_untyped_attributes"), table
    assert count("quality.expectation_results") > 0  # both gates stored their outcomes
    report = Path(xcom(transformed, "report"))
    assert report == tmp_path / "report" / "journeys.html"
    assert "<html" in report.read_text(encoding="utf-8").lower()

    # The key reached dbt through the environment at run time only, never the stored task fields.
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        rendered = [
            row.rendered_fields
            for row in session.query(RenderedTaskInstanceFields).filter_by(
                dag_id="journey_transform", run_id=transformed.run_id
            )
        ]
    assert len(rendered) == len(transformed.get_task_instances())
    assert TEST_PII_KEY not in json.dumps(rendered, default=str)

    # Nothing new on the topics: the drain is skipped, so it announces no new raw.touchpoints.
    again = dags["journey_ingest"].test()
    assert states(again) == {"drain": "skipped"}

    # Rows a `journeys ingest --follow` loader of the same group landed in between are announced
    # by the next drain, though it consumes nothing itself.
    loader_url = urls.get("JOURNEYS_AIRFLOW_LOADER_WAREHOUSE_URL", warehouse_url)
    publish(kafka, stream(5, seed=3))
    assert load(kafka, LoaderSettings(idle_seconds=1.0), loader_url).loaded == 5
    announced = dags["journey_ingest"].test()
    assert states(announced) == {"drain": "success"}
    drained = xcom(announced, "drain")
    assert drained["consumed"] == 0 and drained["landed"] != xcom(ingested, "drain")["landed"]


def _writes_raw(duckdb_url: str, sql: str, *parameters: object) -> Callable[[], None]:
    """A spoiler for `_failed_transform`: one statement on raw, past the loader and its contract."""

    def spoil() -> None:
        with duckdb.connect(str(parse_url(duckdb_url).path)) as con:
            con.execute(sql, list(parameters))

    return spoil


def _failed_transform(
    url: str,
    kafka: KafkaSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spoil: Callable[[], None] = lambda: None,
) -> Any:
    """Load 30 events into `url`, `spoil` something, then run journey_transform (2 retries allowed)."""
    monkeypatch.chdir(tmp_path)
    publish(kafka, stream(30))
    assert load(kafka, LoaderSettings(idle_seconds=1.0), url).loaded == 30
    spoil()
    dags = dags_for(
        {
            "JOURNEYS_WAREHOUSE_URL": url,
            "JOURNEYS_QUALITY_OUTPUT_DIR": str(tmp_path / "quality"),
            "JOURNEYS_AIRFLOW_RETRIES": "2",
        },
        monkeypatch,
    )
    run = dags["journey_transform"].test()
    assert str(run.state) == "failed"
    return run


def test_a_failed_raw_gate_stops_the_transform_before_dbt_without_retrying(
    airflow_db: Path,
    kafka: KafkaSettings,
    duckdb_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An event type outside the contract, written past the loader (which would quarantine it).
    spoil = _writes_raw(
        duckdb_url,
        "insert into raw.touchpoints select * replace ('sales.teleported' as event_type, "
        "uuid() as event_id) from raw.touchpoints limit 1",
    )
    found = states(_failed_transform(duckdb_url, kafka, tmp_path, monkeypatch, spoil))
    assert found.pop("check_raw") == "failed"  # failed for good: a data problem is not retried
    assert set(found.values()) == {"upstream_failed"}
    assert query(
        duckdb_url, "select count(*) from information_schema.schemata where schema_name = 'marts'"
    ) == [(0,)]


def test_a_failed_dbt_test_fails_its_task_without_retrying(
    airflow_db: Path,
    kafka: KafkaSettings,
    duckdb_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A ticket category outside the contract's list: the raw gate does not read attributes,
    # staging's accepted_values test does.
    spoil = _writes_raw(
        duckdb_url,
        "update raw.touchpoints set attributes = ? where event_id = (select min(event_id) "
        "from raw.touchpoints where event_type = 'support.ticket_opened')",
        json.dumps({"ticket_id": "T-1", "channel": "email", "category": "teleportation"}),
    )
    run = _failed_transform(duckdb_url, kafka, tmp_path, monkeypatch, spoil)
    found = states(run)
    assert found.pop("check_raw") == "success"
    assert found.pop("dbt.stg_support__touchpoints_model_build") == "failed"
    assert "failed" not in found.values()  # the rest waited on it, or did not need it
    tries = {ti.task_id: ti.try_number for ti in run.get_task_instances()}
    assert tries["dbt.stg_support__touchpoints_model_build"] == 1  # a retry would find the same row


def test_a_setting_to_fix_fails_the_dbt_tasks_without_retrying(
    airflow_db: Path,
    kafka: KafkaSettings,
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("JOURNEYS_PII_KEY", raising=False)  # PostgreSQL refuses the development key
    run = _failed_transform(postgres_url, kafka, tmp_path, monkeypatch)
    found = states(run)
    assert found.pop("check_raw") == "success"
    failed = [task for task, state in found.items() if state == "failed"]
    assert failed and all(task.startswith("dbt.") for task in failed)
    assert set(found.values()) <= {"failed", "upstream_failed"}
    tries = {ti.task_id: ti.try_number for ti in run.get_task_instances() if ti.task_id in failed}
    assert set(tries.values()) == {1}, tries  # failed for good at once: a retry cannot set a key
