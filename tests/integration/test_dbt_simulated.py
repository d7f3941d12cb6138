"""dbt on a default simulated run, loaded through the real broker and loader, on both warehouses.

One run (2,000 customers, 90 days, seed 42, faults included) is published once and loaded into
each warehouse by its own consumer group; the marts are then scored against the simulator's truth.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from journeys.transform import TransformSummary
from journeys_core.settings import KafkaSettings, LoaderSettings
from streams.broker import EmbeddedBroker
from streams.simulator import Simulation, SimulationConfig, Truth, normalise_email, normalise_phone
from streams.topics import ensure_topics
from tests.helpers import load, publish, query, scratch_warehouse
from tests.marts import MARTS, TEST_PII_KEY, assert_built, columns, pair_scores, run_dbt

CONFIG = SimulationConfig(customers=2000, days=90, seed=42, start=dt.date(2026, 9, 1))
AS_OF = dt.date(2026, 11, 30)  # the simulator's "now": midnight at the end of the window
# The fixed window may end after today's date; the loader would quarantine those events as "in
# the future", so the tests let it look far ahead (the run stays the same whatever the date).
LOADER = LoaderSettings(idle_seconds=1.0, batch_max_seconds=1.0, max_future_seconds=10 * 365 * 86400)


@dataclass(frozen=True)
class Built:
    url: str
    kind: str
    workdir: Path
    summary: TransformSummary


@pytest.fixture(scope="module")
def truth_and_topics(broker: EmbeddedBroker) -> tuple[Truth, KafkaSettings]:
    name = uuid.uuid4().hex[:10]
    kafka = broker.settings().model_copy(update={"topic_prefix": f"t{name}", "consumer_group": f"g{name}"})
    ensure_topics(kafka)
    simulation = Simulation(CONFIG)
    publish(kafka, ((r.department, r.key, r.value) for r in simulation.records()))
    return simulation.truth(), kafka


@pytest.fixture(scope="module", params=["duckdb", "postgresql"])
def built(
    request: pytest.FixtureRequest,
    truth_and_topics: tuple[Truth, KafkaSettings],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Built]:
    _, topics = truth_and_topics
    workdir = tmp_path_factory.mktemp(f"dbt-{request.param}")
    kafka = topics.model_copy(update={"consumer_group": f"{topics.consumer_group}-{request.param}"})
    with scratch_warehouse(request.param, workdir, request) as url:
        load(kafka, LOADER, url)
        summary = run_dbt(url, workdir, as_of=AS_OF, unit_tests=True)
        yield Built(url, request.param, workdir, summary)


def test_dbt_build_passes_every_model_and_test(built: Built) -> None:
    assert_built(built.summary)
    assert built.summary.models == 17
    assert built.summary.tests_failed == built.summary.errors == 0
    assert built.summary.tests_passed >= 35


def test_stitching_precision_and_recall_against_truth(
    built: Built,
    truth_and_topics: tuple[Truth, KafkaSettings],
    record_property: Callable[[str, object], None],
) -> None:
    truth, _ = truth_and_topics
    predicted = {
        str(e): str(c)
        for e, c in query(built.url, "select event_id, customer_key from marts.fct_touchpoints")
    }
    assert len(predicted) == len(truth.events)
    precision, recall = pair_scores(truth.events, predicted)
    record_property("stitching", f"precision {precision:.5f} recall {recall:.5f}")
    print(f"{built.kind}: stitching precision {precision:.5f}, recall {recall:.5f}")
    assert precision >= 0.99
    assert recall >= 0.99


def test_journey_outcomes_agree_with_truth(
    built: Built,
    truth_and_topics: tuple[Truth, KafkaSettings],
    record_property: Callable[[str, object], None],
) -> None:
    truth, _ = truth_and_topics
    outcomes = dict(query(built.url, "select order_id, outcome from marts.fct_order_journeys"))
    assert set(outcomes) == set(truth.journeys)
    wrong = {
        order: (j.outcome, outcomes[order])
        for order, j in truth.journeys.items()
        if outcomes[order] != j.outcome
    }
    agreement = 1 - len(wrong) / len(truth.journeys)
    record_property("outcome_agreement", f"{agreement:.5f}")
    print(f"{built.kind}: outcome agreement {agreement:.5f} over {len(truth.journeys)} journeys")
    assert agreement >= 0.99, list(wrong.items())[:10]


def test_ticket_attribution_agrees_with_truth(
    built: Built, truth_and_topics: tuple[Truth, KafkaSettings]
) -> None:
    truth, _ = truth_and_topics
    tickets = dict(query(built.url, "select ticket_id, order_id from marts.fct_tickets"))
    expected = {ticket: about["order_id"] for ticket, about in truth.tickets.items()}
    assert set(tickets) >= set(expected)
    wrong = {t: (expected[t], tickets[t]) for t in expected if tickets[t] != expected[t]}
    assert not wrong, list(wrong.items())[:10]


# docs/metrics.md, metric by metric: where an analyst finds it.
DOCUMENTED_METRICS = {
    "stage time placed": ("fct_order_journeys", "placed_at"),
    "stage time paid": ("fct_order_journeys", "paid_at"),
    "stage time shipped": ("fct_order_journeys", "shipped_at"),
    "stage time delivered": ("fct_order_journeys", "delivered_at"),
    "delivered_on_time": ("fct_order_journeys", "is_delivered_on_time"),
    "ticket belongs to an order": ("fct_tickets", "order_id"),
    "ticket owner": ("fct_tickets", "owner_department"),
    "first response": ("fct_tickets", "first_response_seconds"),
    "resolution": ("fct_tickets", "resolution_seconds"),
    "journey first response": ("fct_order_journeys", "first_response_seconds"),
    "journey resolution": ("fct_order_journeys", "resolution_seconds"),
    "journey CSAT": ("fct_order_journeys", "csat_score"),
    "journey refunds": ("fct_order_journeys", "refunds"),
    "owner department of problems": ("fct_order_journeys", "problem_owner_department"),
    "journey outcome": ("fct_order_journeys", "outcome"),
    "hand-off": ("fct_touchpoints", "is_handoff"),
    "hand-off latency": ("fct_touchpoints", "handoff_seconds"),
    "scorecard touchpoints": ("mart_department_scorecard", "touchpoints"),
    "scorecard orders touched": ("mart_department_scorecard", "orders_touched"),
    "scorecard customers touched": ("mart_department_scorecard", "customers_touched"),
    "scorecard problems owned": ("mart_department_scorecard", "problems_owned"),
    "scorecard problem rate": ("mart_department_scorecard", "problem_rate"),
    "scorecard median first response": ("mart_department_scorecard", "median_first_response_hours"),
    "scorecard median resolution": ("mart_department_scorecard", "median_resolution_hours"),
    "scorecard CSAT": ("mart_department_scorecard", "mean_csat"),
    "scorecard smooth share": ("mart_department_scorecard", "smooth_share"),
    "customer orders": ("dim_customers", "orders"),
    "customer revenue": ("dim_customers", "revenue"),
    "customer first order": ("dim_customers", "first_order_at"),
    "customer last order": ("dim_customers", "last_order_at"),
    "repeat customer": ("dim_customers", "is_repeat_customer"),
    "customer open tickets": ("dim_customers", "open_tickets"),
    "customer mean CSAT": ("dim_customers", "mean_csat"),
    "last proactive check-in": ("dim_customers", "last_check_in_at"),
    "problem journeys": ("dim_customers", "problem_journeys"),
    "health score": ("dim_customers", "health_score"),
    "at-risk flag": ("dim_customers", "is_at_risk"),
    "stage funnel": ("mart_journey_funnel", "orders"),
    "time-to-stage p50": ("mart_journey_funnel", "p50_hours_from_placed"),
    "time-to-stage p90": ("mart_journey_funnel", "p90_hours_from_placed"),
    "hand-off matrix count": ("mart_handoffs", "handoffs"),
    "hand-off p50 latency": ("mart_handoffs", "p50_latency_hours"),
    "hand-off p90 latency": ("mart_handoffs", "p90_latency_hours"),
    "cohort repeat-purchase retention": ("mart_cohort_retention", "retention_rate"),
    "top journey paths": ("mart_journey_paths", "path_rank"),
    "path outcome shares": ("mart_journey_paths", "smooth_share"),
    "keyed on customer_key": ("fct_order_journeys", "customer_key"),
}


def test_every_design_metric_is_a_mart_column(built: Built) -> None:
    present = {table: set(columns(built.url, table)) for table in MARTS}
    missing = [f"{metric} ({t}.{c})" for metric, (t, c) in DOCUMENTED_METRICS.items() if c not in present[t]]
    assert not missing
    for table in MARTS:  # and every mart has rows on a default run, but the list of untypable events
        rows = query(built.url, f"select count(*) from marts.{table}")[0][0]
        assert rows == 0 if table == "fct_untyped_attributes" else rows > 0, table


def test_marts_hold_no_raw_email_or_phone(
    built: Built, truth_and_topics: tuple[Truth, KafkaSettings]
) -> None:
    truth, _ = truth_and_topics
    emails = {normalise_email(c["email"]) for c in truth.customers.values()}
    phones = {normalise_phone(c["phone"]) for c in truth.customers.values()}
    national = {p.removeprefix("+44") for p in phones}
    phone_like = re.compile(r"\+?\d[\d\s()-]{8,}\d")
    for table in MARTS:
        text_columns = [
            name
            for name, kind in query(
                built.url,
                "select column_name, data_type from information_schema.columns "
                f"where table_schema = 'marts' and table_name = '{table}'",
            )
            if str(kind).lower() in ("text", "varchar", "character varying")
        ]
        for name in text_columns:
            values = {
                str(v).lower() for (v,) in query(built.url, f"select distinct {name} from marts.{table}") if v
            }
            assert not values & emails, f"{table}.{name} holds emails"
            assert not any("@" in v for v in values), f"{table}.{name} holds something like an email"
            assert not any(phone_like.fullmatch(v) or v in phones or v in national for v in values), (
                f"{table}.{name} holds phone numbers"
            )


@pytest.mark.parametrize("built", ["postgresql"], indirect=True)  # DuckDB files have no roles
def test_analyst_role_reads_marts_and_nothing_else(built: Built) -> None:
    with psycopg.connect(built.url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as con:
        con.execute("set role journeys_analyst")
        for table in MARTS:
            con.execute(f"select count(*) from marts.{table}").fetchone()
        for relation in (
            "raw.touchpoints",
            "raw.quarantine",
            "staging.stg_sales__touchpoints",
            "intermediate.int_identifiers_stitched",
            "intermediate.int_touchpoints_stitched",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute(f"select 1 from {relation} limit 1")


def test_docs_generate_and_the_key_never_leaves_the_session(built: Built) -> None:
    summary = run_dbt(built.url, built.workdir, command="docs generate", as_of=AS_OF)
    assert summary.success, summary
    assert (built.workdir / "target" / "catalog.json").is_file()
    assert (built.workdir / "target" / "index.html").is_file()
    leaked = [
        path
        for folder in ("target", "logs")
        for path in (built.workdir / folder).rglob("*")
        if path.is_file() and TEST_PII_KEY.encode() in path.read_bytes()
    ]
    assert not leaked
