"""Every suite passes on a clean simulated run, and every expectation fails on a table crafted to break it.

One simulated run (200 customers, 30 days) goes through the real broker and loader into each
warehouse, then through the gated transform (check raw -> dbt build -> check marts). Each
expectation is then run alone against scratch copies of its tables, with rows broken by direct
SQL, so no expectation is one that cannot fail.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from expectations.results import ExpectationOutcome, Stage
from expectations.runner import run_checks
from expectations.store import TABLE
from expectations.suites import Schemas, all_expectations, expectation_name, mart_suites, raw_suites
from journeys import pipeline
from journeys import transform as transform_stage
from journeys.cli import app
from journeys.transform import TransformSummary
from journeys_core.settings import KafkaSettings, LoaderSettings, PrivacySettings, QualitySettings
from journeys_core.settings import WarehouseSettings as Warehouse
from streams.broker import EmbeddedBroker
from streams.simulator import Simulation, SimulationConfig
from streams.topics import ensure_topics
from tests.events import encode, event
from tests.helpers import load, publish, query, scratch_warehouse
from tests.marts import TEST_PII_KEY
from tests.quality import execute, scratch_copy

CONFIG = SimulationConfig(customers=200, days=30, seed=11, start=dt.date(2026, 9, 1))
AS_OF = dt.date(2026, 10, 1)
LOADER = LoaderSettings(idle_seconds=1.0, batch_max_seconds=1.0)

# How to break each expectation: SQL on scratch copies ({raw} and {marts} are the scratch
# schemas). Rules named *_between_0_and_1 and *_non_negative are broken generically below.
BREAKERS: dict[str, list[str]] = {
    "raw.touchpoints.event_id_unique": [
        "insert into {raw}.touchpoints select * from {raw}.touchpoints order by event_id limit 2"
    ],
    "raw.touchpoints.event_type_known": [
        "update {raw}.touchpoints set event_type = 'sales.parcel_teleported' "
        "where event_type = 'sales.order_placed'"
    ],
    "raw.touchpoints.department_known": [
        "update {raw}.touchpoints set department = 'marketing' where event_type = 'sales.order_placed'"
    ],
    "raw.touchpoints.schema_version_supported": [
        "update {raw}.touchpoints set schema_version = 2 where event_type = 'sales.order_placed'"
    ],
    "raw.touchpoints.occurred_at_present": [
        "update {raw}.touchpoints set occurred_at = null where event_type = 'sales.order_placed'"
    ],
    "raw.touchpoints.occurred_at_not_in_future": [
        "update {raw}.touchpoints set occurred_at = occurred_at + interval '100 years' "
        "where event_type = 'sales.order_placed'"
    ],
    "raw.touchpoints.amount_non_negative": [
        'update {raw}.touchpoints set attributes = \'{"amount": -12.5, "currency": "EUR"}\' '
        "where event_type = 'sales.payment_captured'"
    ],
    "raw.touchpoints.customer_identified": [
        "update {raw}.touchpoints set customer_id = null, email = '  ', phone = null "
        "where event_type = 'sales.order_placed'"
    ],
    "raw.touchpoints.order_placed_has_order_id": [
        "update {raw}.touchpoints set order_id = ' ' where event_type = 'sales.order_placed'"
    ],
    "raw.touchpoints.order_placed_once": [
        "update {raw}.touchpoints set order_id = (select min(order_id) from {raw}.touchpoints "
        "where event_type = 'sales.order_placed') where event_type = 'sales.order_placed'"
    ],
    "raw.touchpoints.volume_within_bounds": ["delete from {raw}.touchpoints"],
    "raw.quarantine.reason_present": [
        "insert into {raw}.quarantine (topic, kafka_partition, kafka_offset, reason, quarantined_at) "
        "values ('touchpoints.sales', 0, 999999999, '  ', current_timestamp)"
    ],
    "raw.quarantine.share_within_bounds": [
        "insert into {raw}.quarantine (topic, kafka_partition, kafka_offset, reason, quarantined_at) "
        "select topic, kafka_partition, kafka_offset + 1000000000, 'crafted', loaded_at "
        "from {raw}.touchpoints"
    ],
    "marts.fct_touchpoints.reconciles_with_raw": [
        "delete from {marts}.fct_touchpoints where event_id in "
        "(select event_id from {marts}.fct_touchpoints order by event_id limit 3)"
    ],
    "marts.fct_order_journeys.outcome_accepted": [
        "update {marts}.fct_order_journeys set outcome = 'delighted' where outcome = 'smooth'"
    ],
    "marts.fct_order_journeys.reconciles_with_placed_orders": [
        "delete from {marts}.fct_order_journeys where order_id in "
        "(select order_id from {marts}.fct_order_journeys order by order_id limit 2)"
    ],
    "marts.fct_order_journeys.placement_arrives": ["update {marts}.fct_order_journeys set placed_at = null"],
    # One flagged journey (or ticket) of hundreds warns; all of them is far above the 1 % share.
    "marts.fct_order_journeys.no_impossible_sequences": [
        "update {marts}.fct_order_journeys set has_impossible_sequence = true where order_id = "
        "(select min(order_id) from {marts}.fct_order_journeys)"
    ],
    "marts.fct_order_journeys.impossible_sequences_below_share": [
        "update {marts}.fct_order_journeys set has_impossible_sequence = true"
    ],
    "marts.fct_tickets.no_impossible_sequences": [
        "update {marts}.fct_tickets set has_impossible_sequence = true where ticket_id = "
        "(select min(ticket_id) from {marts}.fct_tickets)"
    ],
    "marts.fct_untyped_attributes.none": [
        "insert into {marts}.fct_untyped_attributes (event_id, untyped_attributes) values ('e-1', 'amount')"
    ],
    "marts.fct_tickets.impossible_sequences_below_share": [
        "update {marts}.fct_tickets set has_impossible_sequence = true"
    ],
    "marts.dim_customers.last_journey_outcome_accepted": [
        "update {marts}.dim_customers set last_journey_outcome = 'delighted' "
        "where last_journey_outcome = 'lost'"
    ],
    "marts.dim_customers.health_score_between_0_and_100": [
        "update {marts}.dim_customers set health_score = 101 where health_score is not null"
    ],
}


def breaker(name: str) -> list[str]:
    """The SQL that breaks expectation `name`; generic for shares and non-negative columns."""
    if name in BREAKERS:
        return BREAKERS[name]
    schema, table, rule = name.split(".")
    if rule.endswith("_between_0_and_1"):
        return [f"update {{{schema}}}.{table} set {rule.removesuffix('_between_0_and_1')} = 1.5"]
    if rule.endswith("_non_negative"):
        return [f"update {{{schema}}}.{table} set {rule.removesuffix('_non_negative')} = -1"]
    raise AssertionError(f"no crafted table breaks {name}: add it to BREAKERS")


RAW_NAMES = [expectation_name(e) for _, e in all_expectations(raw_suites(QualitySettings()))]
MART_NAMES = [expectation_name(e) for _, e in all_expectations(mart_suites())]


@dataclass(frozen=True)
class Built:
    url: str
    kind: str
    run: pipeline.RunResult
    output_dir: Path


@pytest.fixture(scope="module")
def topics(broker: EmbeddedBroker) -> KafkaSettings:
    name = uuid.uuid4().hex[:10]
    kafka = broker.settings().model_copy(update={"topic_prefix": f"q{name}", "consumer_group": f"g{name}"})
    ensure_topics(kafka)
    publish(kafka, ((r.department, r.key, r.value) for r in Simulation(CONFIG).records()))
    # A dispatch whose order_placed has not arrived yet: normal across topics, and no gate's failure.
    early = event(
        "shipping.shipment_dispatched",
        order_id="ORD-PLACED-LATER",
        customer={"phone": "+44 20 7946 0999"},
        attributes={"carrier": "DPD", "tracking_id": "TRK-1"},
        occurred_at=dt.datetime(2026, 9, 20, 10, tzinfo=dt.UTC),
    )
    publish(kafka, [("shipping", b"ORD-PLACED-LATER", encode(early))])
    return kafka


@pytest.fixture(scope="module", params=["duckdb", "postgresql"])
def built(
    request: pytest.FixtureRequest, topics: KafkaSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Built]:
    """A clean simulated run, loaded and put through check raw -> dbt build -> check marts."""
    workdir = tmp_path_factory.mktemp(f"gx-{request.param}")
    kafka = topics.model_copy(update={"consumer_group": f"{topics.consumer_group}-{request.param}"})
    with scratch_warehouse(request.param, workdir, request) as url:
        load(kafka, LOADER, url)
        run = pipeline.gated_transform(
            Warehouse(url=url),
            privacy=PrivacySettings(pii_key=SecretStr(TEST_PII_KEY)),
            quality=QualitySettings(output_dir=workdir / "gx"),
            as_of=AS_OF,
        )
        yield Built(url, request.param, run, workdir / "gx")


def _failures(built: Built) -> str:
    return "\n".join(
        f"{o.name}: {o.unexpected_count} rows {o.examples} {o.exception or ''}"
        for check in built.run.checks
        for o in check.failures
    )


def test_clean_run_passes_both_gates_and_dbt_runs_between_them(built: Built) -> None:
    assert built.run.problem is None, _failures(built)
    assert [stage.name for stage in built.run.stages] == ["check raw", "transform", "check marts"]
    raw, marts = built.run.checks
    assert [o.name for o in raw.outcomes] == RAW_NAMES
    assert [o.name for o in marts.outcomes] == MART_NAMES
    assert all(o.success and o.exception is None for o in (*raw.outcomes, *marts.outcomes)), _failures(built)


def test_results_are_kept_in_the_warehouse_one_row_per_expectation_per_run(built: Built) -> None:
    raw, marts = built.run.checks
    for check in (raw, marts):
        rows = query(
            built.url,
            f"select expectation, stage, suite, severity, success, run_time from {TABLE} "
            f"where run_id = '{check.run_id}' order by expectation",
        )
        assert sorted(r[0] for r in rows) == sorted(o.name for o in check.outcomes)
        assert {r[1] for r in rows} == {check.stage}
        assert all(r[4] is True for r in rows)
        assert {r[5] for r in rows} == {check.run_time}
    [(runs,)] = query(built.url, f"select count(distinct run_id) from {TABLE}")
    assert runs == 2


def test_data_docs_are_built_as_html(built: Built) -> None:
    index = built.output_dir / "data_docs" / "index.html"
    assert index.exists()
    html = index.read_text()
    for suite in (
        "raw.touchpoints",
        "raw.quarantine",
        "marts.fct_order_journeys",
        "marts.mart_journey_paths",
    ):
        assert suite in html
    pages = list((built.output_dir / "data_docs" / "validations").rglob("*.html"))
    assert len(pages) == 2 + len(mart_suites())


def _break_and_check(built: Built, name: str, statements: list[str] | None = None) -> ExpectationOutcome:
    stage: Stage = "raw" if name.startswith("raw.") else "marts"
    table = ".".join(name.split(".")[:2])
    copies = ["raw.touchpoints", "raw.quarantine"] + ([table] if stage == "marts" else [])
    scratch = scratch_copy(built.url, copies)
    schemas = Schemas(raw=scratch["raw"], marts=scratch.get("marts", "marts"))
    execute(
        built.url,
        [
            sql.replace("{raw}", schemas.raw).replace("{marts}", schemas.marts)
            for sql in (statements or breaker(name))
        ],
    )
    result = run_checks(
        stage,
        built.url,
        schemas=schemas,
        only=[name],
        store_results=False,
        build_docs=False,
        settings=QualitySettings(),
    )
    [outcome] = result.outcomes
    return outcome


@pytest.mark.parametrize("name", RAW_NAMES + MART_NAMES)
def test_each_expectation_fails_on_a_table_crafted_to_break_it(built: Built, name: str) -> None:
    outcome = _break_and_check(built, name)
    assert outcome.name == name
    assert not outcome.success, f"{name} passed on a table crafted to break it"
    assert outcome.exception is None, (
        f"{name} failed by raising, not by finding bad rows: {outcome.exception}"
    )
    found = outcome.unexpected_count or outcome.observed_value
    assert found, f"{name} failed without saying what it found"


def test_a_failed_mart_expectation_fails_the_run_and_names_it(
    built: Built, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = "marts.mart_cohort_retention.retention_rate_between_0_and_1"
    corrupt = "update marts.mart_cohort_retention set retention_rate = retention_rate + 10"

    def dbt_that_builds_a_bad_mart(*args: object, **kwargs: object) -> TransformSummary:
        execute(built.url, [corrupt])
        return TransformSummary(command="build", target=built.kind, success=True)

    monkeypatch.setattr(transform_stage, "transform", dbt_that_builds_a_bad_mart)
    try:
        run = pipeline.gated_transform(Warehouse(url=built.url), quality=QualitySettings(output_dir=tmp_path))
        assert [stage.name for stage in run.stages] == ["check raw", "transform", "check marts"]
        assert run.problem is not None and name in run.problem
        assert [o.name for o in run.checks[-1].critical_failures] == [name]

        monkeypatch.setenv("JOURNEYS_WAREHOUSE_URL", built.url)
        monkeypatch.setenv("JOURNEYS_QUALITY_OUTPUT_DIR", str(tmp_path))
        printed = CliRunner().invoke(app, ["check", "marts"], env={"COLUMNS": "200"})
        assert printed.exit_code == 1, printed.output
        assert name in printed.output and "marts gate FAILED" in printed.output
    finally:
        execute(built.url, [corrupt.replace("+ 10", "- 10")])


def test_a_placement_time_without_a_placed_event_breaks_reconciliation(built: Built) -> None:
    # The journey of ORD-PLACED-LATER has no order_placed yet: a placement time there is invented.
    name = "marts.fct_order_journeys.reconciles_with_placed_orders"
    invent = (
        "update {marts}.fct_order_journeys set placed_at = current_timestamp "
        "where order_id = 'ORD-PLACED-LATER'"
    )
    outcome = _break_and_check(built, name, [invent])
    assert not outcome.success and outcome.unexpected_count == 1
    assert "placement time without a valid sales.order_placed event" in str(outcome.examples)
