"""`journeys quarantine list|replay`, `journeys roles` and the PII-key rule, run as a user would."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import psycopg

from journeys_core.settings import KafkaSettings
from journeys_core.warehouse import raw_ddl
from tests.events import encode, event
from tests.helpers import loader_env, publish, query, run_journeys

EMAIL = "quarantined.person@example.com"
PHONE = "+44 20 7946 0999"


def test_list_then_replay_with_corrections(kafka: KafkaSettings, duckdb_url: str, tmp_path: Path) -> None:
    broken = event(
        customer={"email": EMAIL, "phone": PHONE},
        attributes={
            "amount": -1,
            "currency": "EUR",
            "items": 1,
            "channel": "web",
            "promised_delivery_date": "2026-09-05",
        },
    )
    publish(kafka, [("sales", b"k", encode(event())), ("sales", b"k", encode(broken)), ("sales", b"k", b"{")])
    env = loader_env(kafka, duckdb_url)
    assert run_journeys("ingest", env=env).returncode == 0

    listed = run_journeys("quarantine", "list", "--payloads", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "2 records in quarantine" in listed.stdout
    assert "attributes.amount" in listed.stdout and "not valid JSON" in listed.stdout
    assert EMAIL not in listed.stdout and "7946" not in listed.stdout, "previews mask PII"

    (topic, partition, offset), *_ = query(
        duckdb_url,
        "select topic, kafka_partition, kafka_offset from raw.quarantine where event_id is not null",
    )
    fixed = {**broken, "attributes": {**broken["attributes"], "amount": 10}}  # type: ignore[dict-item]
    corrections = tmp_path / "fixes.jsonl"
    corrections.write_text(
        json.dumps({"topic": topic, "partition": partition, "offset": offset, "event": fixed})
    )

    dry = run_journeys("quarantine", "replay", "--corrections", str(corrections), "--dry-run", env=env)
    assert dry.returncode == 0 and "would load 1" in dry.stdout and "nothing was changed" in dry.stdout
    done = run_journeys("quarantine", "replay", "--corrections", str(corrections), env=env)
    assert done.returncode == 0 and "loaded 1" in done.stdout, done.stdout + done.stderr
    again = run_journeys("quarantine", "replay", "--corrections", str(corrections), env=env)
    assert again.returncode == 1 and "no record waiting in quarantine" in again.stdout
    assert query(duckdb_url, "select count(*) from raw.touchpoints") == [(2,)]

    still = run_journeys("quarantine", "list", env=env)
    assert "1 record in quarantine" in still.stdout and "1 replayed earlier" in still.stdout

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"topic": "x"}\n')
    refused = run_journeys("quarantine", "replay", "--corrections", str(bad), env=env)
    assert refused.returncode == 2 and "line 1" in refused.stderr and "Traceback" not in refused.stderr


def test_a_record_published_again_is_listed_once_with_its_copies(
    kafka: KafkaSettings, warehouse_url: str
) -> None:
    """What a rerun of `journeys run` does: the same malformed record again, on another topic."""
    publish(kafka, [("sales", b"k", b"{"), ("shipping", b"k", b"{"), ("sales", b"k", encode(event()))])
    env = loader_env(kafka, warehouse_url)
    assert run_journeys("ingest", env=env).returncode == 0

    listed = run_journeys("quarantine", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "1 record in quarantine (2 copies)" in listed.stdout
    assert re.search(r"┃ records ┃ copies ┃", listed.stdout)
    assert re.search(r"not valid JSON.*│\s*1 │\s*2 │", listed.stdout)
    shown = run_journeys("status", env=env)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"raw\.quarantine \(waiting\)\s*│\s*2 \(1 distinct\)", shown.stdout)


def test_postgres_writers_refuse_the_development_key(kafka: KafkaSettings, postgres_url: str) -> None:
    env = {k: v for k, v in loader_env(kafka, postgres_url).items() if k != "JOURNEYS_PII_KEY"}
    for command in (("ingest",), ("quarantine", "replay")):
        result = run_journeys(*command, env=env, timeout=120)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert "development PII key" in result.stderr and "JOURNEYS_PII_KEY" in result.stderr
    assert query(postgres_url, "select to_regclass('raw.touchpoints') is null") == [(True,)], (
        "nothing written"
    )


def test_roles_command(postgres_url: str, duckdb_url: str) -> None:
    env = {**os.environ, "JOURNEYS_WAREHOUSE_URL": postgres_url}
    result = run_journeys("roles", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    for role in ("journeys_loader", "journeys_transformer", "journeys_analyst"):
        assert role in result.stdout
    refused = run_journeys("roles", env={**os.environ, "JOURNEYS_WAREHOUSE_URL": duckdb_url}, timeout=120)
    assert refused.returncode == 2 and "needs PostgreSQL" in refused.stderr

    # The wrong login is the usual mistake with least privilege: one sentence, not a traceback.
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(raw_ddl("postgresql"))  # the raw tables, as the loader's first start creates them
    analyst = postgres_url.replace("postgres@", "journeys_analyst@", 1)
    wrong = run_journeys(
        "quarantine",
        "replay",
        env={**env, "JOURNEYS_WAREHOUSE_URL": analyst, "JOURNEYS_PII_KEY": "k"},
        timeout=120,
    )
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    said = " ".join(wrong.stderr.split())
    assert "permission denied" in said and "journeys roles" in said
