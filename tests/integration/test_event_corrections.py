"""A way out of a bad loaded event: `journeys events tombstone|correct`, then an ordinary run.

On the hand-written known-answer events, built once: a refund is tombstoned, a CSAT answer is
corrected (another score and another email, so the identity graph changes), and the dispatch
that carried a phone spelling is tombstoned. The next `journeys transform` (not --full-refresh)
must give exactly the marts of a warehouse that received the events that way from the start.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from journeys.cli import app
from journeys_core.settings import KafkaSettings, LoaderSettings
from streams.produce import produce_file
from streams.topics import ensure_topics
from tests.helpers import load, query
from tests.marts import all_marts, assert_built, run_dbt

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "known_answers"
AS_OF = dt.date(2026, 3, 31)
LOADER = LoaderSettings(idle_seconds=1.0, batch_max_seconds=1.0)
REFUND = "00000000-0000-4000-8000-000000000021"
CSAT = "00000000-0000-4000-8000-000000000023"
DISPATCH = "00000000-0000-4000-8000-000000000003"


def _events() -> list[dict[str, object]]:
    return [json.loads(line) for line in (FIXTURES / "events.jsonl").read_text().splitlines() if line]


def _corrected_csat() -> dict[str, object]:
    [csat] = [e for e in _events() if e["event_id"] == CSAT]
    attributes = {**csat["attributes"], "score": 5}  # type: ignore[dict-item]
    return {**csat, "customer": {"email": "bob.new@example.org"}, "attributes": attributes}


def _journeys(*args: str, url: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"JOURNEYS_WAREHOUSE_URL": url})
    assert result.exit_code == 0, result.output
    return result.output


def test_tombstones_and_corrections_rebuild_as_if_the_events_had_come_that_way(
    warehouse_url: str, kafka: KafkaSettings, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    produce_file(FIXTURES / "events.jsonl", kafka)
    assert load(kafka, LOADER, warehouse_url).loaded == 43
    assert_built(run_dbt(warehouse_url, tmp_path / "first", as_of=AS_OF))
    before = all_marts(warehouse_url)

    (tmp_path / "csat.json").write_text(json.dumps(_corrected_csat()))
    said = _journeys(
        "events", "tombstone", REFUND, "--reason", "refund issued twice by mistake", url=warehouse_url
    )
    assert f"tombstoned {REFUND}" in said
    _journeys(
        "events", "correct", str(tmp_path / "csat.json"), "--reason", "score keyed wrongly", url=warehouse_url
    )
    _journeys("events", "tombstone", DISPATCH, "--reason", "carrier test scan", url=warehouse_url)
    assert_built(run_dbt(warehouse_url, tmp_path / "after", as_of=AS_OF))

    # The same events, arrived that way from the start, in a fresh warehouse of the same kind.
    if warehouse_url.startswith("duckdb"):
        reference = f"duckdb:///{tmp_path}/reference.duckdb"
    else:
        reference = str(request.getfixturevalue("postgres_url_2"))
    changed = [
        _corrected_csat() if e["event_id"] == CSAT else e
        for e in _events()
        if e["event_id"] not in (REFUND, DISPATCH)
    ]
    (tmp_path / "changed.jsonl").write_text("".join(json.dumps(e) + "\n" for e in changed))
    fresh = kafka.model_copy(update={"topic_prefix": kafka.topic_prefix + "x", "consumer_group": "fresh"})
    ensure_topics(fresh)
    produce_file(tmp_path / "changed.jsonl", fresh)
    assert load(fresh, LOADER, reference).loaded == 41
    assert_built(run_dbt(reference, tmp_path / "reference", as_of=AS_OF))
    after = all_marts(warehouse_url)
    assert after == all_marts(reference)
    assert after["fct_order_journeys"] != before["fct_order_journeys"]  # the changes reached the marts

    audit = query(warehouse_url, "select event_id, action, reason from raw.event_corrections order by action")
    assert sorted(audit) == sorted(
        [
            (CSAT, "correct", "score keyed wrongly"),
            (REFUND, "tombstone", "refund issued twice by mistake"),
            (DISPATCH, "tombstone", "carrier test scan"),
        ]
    )


def test_a_correction_names_what_is_wrong(duckdb_url: str, kafka: KafkaSettings, tmp_path: Path) -> None:
    produce_file(FIXTURES / "events.jsonl", kafka)
    load(kafka, LOADER, duckdb_url)
    result = CliRunner().invoke(
        app,
        ["events", "tombstone", "00000000-0000-4000-8000-000000000999", "--reason", "x"],
        env={"JOURNEYS_WAREHOUSE_URL": duckdb_url},
    )
    assert result.exit_code == 2 and "no loaded event has the id" in result.output
    (tmp_path / "bad.json").write_text(json.dumps({**_corrected_csat(), "occurred_at": "yesterday"}))
    result = CliRunner().invoke(
        app,
        ["events", "correct", str(tmp_path / "bad.json"), "--reason", "x"],
        env={"JOURNEYS_WAREHOUSE_URL": duckdb_url},
    )
    assert result.exit_code == 2 and "does not pass the contract" in result.output
    [csat] = [e for e in _events() if e["event_id"] == CSAT]
    (tmp_path / "same.json").write_text(json.dumps(csat))  # key order and spacing of its own
    result = CliRunner().invoke(
        app,
        ["events", "correct", str(tmp_path / "same.json"), "--reason", "x"],
        env={"JOURNEYS_WAREHOUSE_URL": duckdb_url},
    )
    assert result.exit_code == 2 and "nothing to change" in result.output


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_change_needs_a_reason(duckdb_url: str, reason: str) -> None:
    result = CliRunner().invoke(
        app, ["events", "tombstone", REFUND, "--reason", reason], env={"JOURNEYS_WAREHOUSE_URL": duckdb_url}
    )
    assert result.exit_code == 2 and "--reason" in result.output
