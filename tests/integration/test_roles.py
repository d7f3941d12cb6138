"""`journeys roles`: each PostgreSQL role can do its job and nothing more, proven by connecting as it.

Roles are shared by the whole cluster, so these tests only ever create them when missing (other
tests may be using them at the same time) and never drop them.
"""

from __future__ import annotations

import datetime as dt
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr
from rich.console import Console

from expectations import store
from journeys.status import gather, render
from journeys_core.roles import ANALYST, LOADER, TRANSFORMER, ensure_roles
from journeys_core.settings import KafkaSettings, LoaderSettings, PrivacySettings, WarehouseSettings
from journeys_core.warehouse import WarehouseError, parse_url
from streams.replay import replay
from streams.sinks import open_sink
from tests.events import encode, event, stream
from tests.helpers import load, publish, query
from tests.marts import TEST_PII_KEY, assert_built, run_dbt

SCHEMAS = ("raw", "staging", "intermediate", "marts", "quality", "public")
RELATIONS = {
    "raw": "raw.touchpoints",
    "staging": "staging.stg_sales__touchpoints",
    "intermediate": "intermediate.int_identifiers_stitched",
    "marts": "marts.fct_touchpoints",
}
MAY_CREATE = {
    LOADER: {"raw"},
    TRANSFORMER: {"staging", "intermediate", "marts", "quality"},
    ANALYST: set(),
}
MAY_READ = {
    LOADER: {"raw"},
    TRANSFORMER: {"raw", "staging", "intermediate", "marts"},
    ANALYST: {"marts"},
}


def as_role(url: str, role: str) -> str:
    """The same database, logged in as `role` (trust authentication on 127.0.0.1)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{role}@{rest.split('@', 1)[1]}"


def allowed(url: str, statement: str) -> bool:
    """Run the statement and undo it; False when PostgreSQL refuses it for lack of privilege."""
    with psycopg.connect(url) as con:
        try:
            con.execute(statement.encode())
            return True
        except psycopg.errors.InsufficientPrivilege:
            return False
        finally:
            con.rollback()


def test_each_role_does_its_job_and_nothing_more(
    kafka: KafkaSettings, loader_settings: LoaderSettings, postgres_url: str, tmp_path: Path
) -> None:
    first = ensure_roles(postgres_url)
    again = ensure_roles(postgres_url)  # idempotent
    assert again.created == () and again.reassigned == 0 and first.database == again.database

    # The loader, logged in as journeys_loader, creates raw and loads (a poison record included).
    loader_url = as_role(postgres_url, LOADER)
    publish(
        kafka,
        [
            *stream(60),
            ("sales", b"k", encode(event(occurred_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=5)))),
        ],
    )
    stats = load(kafka, loader_settings, loader_url)
    assert (stats.loaded, stats.quarantined) == (60, 1)
    # ... and replays quarantine with its own rights (the fix: accept the far future).
    fixed = LoaderSettings(max_future_seconds=30 * 86400)
    privacy = PrivacySettings(pii_key=SecretStr(TEST_PII_KEY))
    assert replay(loader_url, loader=fixed, privacy=privacy).loaded == 1

    # dbt, logged in as journeys_transformer, builds every model from raw; the gates' results
    # table (quality) is created by that role too.
    transformer_url = as_role(postgres_url, TRANSFORMER)
    assert_built(run_dbt(transformer_url, tmp_path, as_of=dt.date(2026, 10, 1)))
    assert store.write(parse_url(transformer_url), "probe", "raw", dt.datetime.now(dt.UTC), []) == 0

    for role in (LOADER, TRANSFORMER, ANALYST):
        url = as_role(postgres_url, role)
        for schema in SCHEMAS:
            created = allowed(url, f"create table {schema}.probe_{role} (i integer)")
            assert created == (schema in MAY_CREATE[role]), f"{role} CREATE in {schema}: {created}"
        for schema, relation in RELATIONS.items():
            read = allowed(url, f"select * from {relation} limit 1")
            assert read == (schema in MAY_READ[role]), f"{role} SELECT {relation}: {read}"
    # Only the loader writes raw; no one but the transformer writes the marts.
    raw_write = "insert into raw.ingest_offsets values ('probe', 'probe', 0, 0, now())"
    assert allowed(loader_url, raw_write)
    assert not allowed(transformer_url, raw_write)
    assert not allowed(as_role(postgres_url, ANALYST), raw_write)
    assert not allowed(as_role(postgres_url, ANALYST), "delete from marts.fct_touchpoints")
    assert not allowed(loader_url, "delete from marts.fct_touchpoints")

    # `journeys status` shows each role what it may read, and marks the rest, instead of failing.
    loader_view = gather(kafka, WarehouseSettings(url=loader_url))
    assert loader_view.counts["raw.touchpoints"] == 61
    assert {"marts.fct_touchpoints", "gates"} <= loader_view.denied
    analyst_view = gather(kafka, WarehouseSettings(url=as_role(postgres_url, ANALYST)))
    assert analyst_view.counts["marts.fct_touchpoints"] == 61
    assert {"raw.touchpoints", "freshness", "offsets"} <= analyst_view.denied
    assert analyst_view.lags == []  # not "everything in Kafka is behind"
    console = Console(width=120, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(render(analyst_view))
    shown = console.export_text()
    assert "cannot read raw.ingest_offsets" in shown and "last load: no access for this login" in shown


def test_tables_made_before_the_roles_move_to_their_owner(
    kafka: KafkaSettings, loader_settings: LoaderSettings, postgres_url: str
) -> None:
    admin_sink = open_sink(postgres_url)  # raw created by the admin user, before any role
    admin_sink.setup()
    admin_sink.close()
    report = ensure_roles(postgres_url)
    assert report.reassigned == 4  # touchpoints, quarantine, event_corrections, ingest_offsets
    publish(kafka, stream(9))
    assert load(kafka, loader_settings, as_role(postgres_url, LOADER)).loaded == 9
    owners = query(postgres_url, "select distinct tableowner from pg_tables where schemaname = 'raw'")
    assert owners == [(LOADER,)]


def test_concurrent_runs_on_several_databases_agree(postgres_url: str, postgres_url_2: str) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        reports = list(pool.map(ensure_roles, [postgres_url, postgres_url_2, postgres_url, postgres_url_2]))
    assert {report.database for report in reports} == {
        postgres_url.rsplit("/", 1)[1],
        postgres_url_2.rsplit("/", 1)[1],
    }
    for url in (postgres_url, postgres_url_2):
        rows = query(
            url, "select rolname, rolcanlogin from pg_roles where rolname like 'journeys\\_%' order by 1"
        )
        assert set(rows) >= {(LOADER, True), (TRANSFORMER, True), (ANALYST, True)}


def test_roles_need_postgresql_and_an_admin(duckdb_url: str, postgres_url: str) -> None:
    with pytest.raises(WarehouseError, match="needs PostgreSQL"):
        ensure_roles(duckdb_url)
    ensure_roles(postgres_url)
    with pytest.raises(WarehouseError, match="must connect as a superuser"):
        ensure_roles(as_role(postgres_url, ANALYST))
