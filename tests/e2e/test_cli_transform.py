"""`journeys transform` as a user runs it: a summary when dbt succeeds, each failure explained when
it does not, and one sentence when there is nothing to transform."""

from __future__ import annotations

from pathlib import Path

import duckdb

from journeys_core.settings import KafkaSettings
from journeys_core.warehouse import parse_url
from tests.helpers import ROOT, loader_env, query, run_journeys

EVENTS = ROOT / "tests" / "fixtures" / "known_answers" / "events.jsonl"


def test_transform_summarises_the_build_and_explains_a_failing_test(
    kafka: KafkaSettings, duckdb_url: str, tmp_path: Path
) -> None:
    env = loader_env(kafka, duckdb_url)
    assert run_journeys("produce", str(EVENTS), env=env).returncode == 0
    assert run_journeys("ingest", env=env).returncode == 0

    built = run_journeys("transform", "--as-of", "2026-03-31", env=env)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "dbt build on duckdb" in built.stdout
    assert "models built" in built.stdout and " 17 " in built.stdout
    assert query(duckdb_url, "select count(*) from marts.fct_order_journeys") == [(8,)]

    # Another key would hash returning customers apart from their history: refused, unless the
    # run hashes everything again.
    env = {**env, "JOURNEYS_PII_KEY": "a-key-typed-differently"}
    other_key = run_journeys("transform", "--as-of", "2026-03-31", env=env)
    assert other_key.returncode == 2, other_key.stdout + other_key.stderr
    words = " ".join(other_key.stderr.split())
    assert "JOURNEYS_PII_KEY is not the key the staged emails and phones were hashed with" in words
    assert "run `journeys transform --full-refresh`" in words
    rehashed = run_journeys("transform", "--as-of", "2026-03-31", "--full-refresh", env=env)
    assert rehashed.returncode == 0, rehashed.stdout + rehashed.stderr

    # A selection that matches nothing is a mistake, not a build of nothing.
    typo = run_journeys("transform", "--select", "fct_order_journey", env=env)
    assert typo.returncode == 2, typo.stdout + typo.stderr
    assert "nothing in the dbt project matches --select fct_order_journey" in " ".join(typo.stderr.split())

    # An event type outside the contract, written past the loader (which would quarantine it):
    # the staging test on sales actions must fail, and the summary must say what it checks.
    target = parse_url(duckdb_url)
    with duckdb.connect(str(target.path)) as con:
        con.execute(
            "insert into raw.touchpoints values (uuid(), 'sales.teleported', 'sales', 1, "
            "timestamptz '2026-03-30 10:00:00+00', 'test', 'C-ALICE', null, null, null, '{}', "
            "'t', 0, 0, now())"
        )
    failed = run_journeys("transform", "--as-of", "2026-03-31", env=env)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "fail test accepted_values_stg_sales__touchpoints_action" in failed.stdout
    assert "1 failing rows" in failed.stdout
    assert "dbt build failed; the full log is" in failed.stdout


def test_transform_without_a_warehouse_is_one_sentence(tmp_path: Path) -> None:
    env = {**loader_env(KafkaSettings(), f"duckdb:///{tmp_path}/missing.duckdb")}
    result = run_journeys("transform", env=env)
    assert result.returncode == 2
    assert "error: the DuckDB warehouse" in result.stderr
    assert "does not exist: load events first with `journeys ingest`" in result.stderr
    assert "Traceback" not in result.stderr
