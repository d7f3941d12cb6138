"""The gates as users meet them: `journeys check raw` exits non-zero on broken raw data, the pipeline
then skips dbt, warnings let it go on, and a missing table is one clear sentence."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from expectations.errors import QualityError
from journeys import pipeline
from journeys import transform as transform_stage
from journeys.errors import describe
from journeys_core.settings import KafkaSettings, LoaderSettings, QualitySettings, WarehouseSettings
from journeys_core.warehouse import connect_duckdb, parse_url
from streams.broker import EmbeddedBroker
from streams.topics import ensure_topics
from tests.events import stream
from tests.helpers import ROOT, load, publish, query
from tests.quality import clone, drop, execute

BROKEN = "raw.touchpoints.event_type_known"
# Every third event of tests.events.stream is a delivery: rename those to a type no contract has.
BREAK = (
    "update raw.touchpoints set event_type = 'shipping.parcel_teleported' "
    "where event_type = 'shipping.delivered'"
)


class TransformCalled(Exception):
    """Raised by the stand-in for dbt: reaching it means the gate let the run through."""


def _loaded_warehouse(url: str, broker: EmbeddedBroker) -> str:
    """30 valid events (tests.events), loaded by the real loader."""
    name = uuid.uuid4().hex[:10]
    kafka = broker.settings().model_copy(update={"topic_prefix": f"q{name}", "consumer_group": f"g{name}"})
    ensure_topics(kafka)
    publish(kafka, stream(30))
    assert load(kafka, LoaderSettings(idle_seconds=1.0, batch_max_seconds=1.0), url).loaded == 30
    return url


@pytest.fixture(scope="module")
def duckdb_template(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> str:
    return _loaded_warehouse(f"duckdb:///{tmp_path_factory.mktemp('gates')}/template.duckdb", broker)


@pytest.fixture(scope="module")
def postgres_template(broker: EmbeddedBroker, postgres_server: str) -> Iterator[str]:
    database = f"journeys_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'create database "{database}"')
    url = _loaded_warehouse(f"{postgres_server.rsplit('/', 1)[0]}/{database}", broker)
    yield url
    drop(url)


@pytest.fixture(params=["duckdb", "postgresql"])
def loaded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A warehouse of each kind holding 30 loaded events, this test's own copy (loaded once)."""
    template = request.getfixturevalue(
        "duckdb_template" if request.param == "duckdb" else "postgres_template"
    )
    url = clone(str(template), tmp_path)
    yield url
    drop(url)


@pytest.fixture
def quality(tmp_path: Path) -> QualitySettings:
    return QualitySettings(output_dir=tmp_path / "gx")


@pytest.fixture
def no_dbt(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Replaces the transform stage; records each call, then stops the run there."""
    calls: list[Any] = []

    def stand_in(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        raise TransformCalled()

    monkeypatch.setattr(transform_stage, "transform", stand_in)
    yield calls


def test_check_raw_exits_non_zero_on_a_broken_raw_table_and_names_the_expectation(
    loaded: str, quality: QualitySettings
) -> None:
    assert pipeline.check("raw", WarehouseSettings(url=loaded), quality=quality).passed
    execute(loaded, [BREAK])

    finished = subprocess.run(
        [sys.executable, "-m", "journeys", "check", "raw"],
        env={
            **os.environ,
            "JOURNEYS_WAREHOUSE_URL": loaded,
            "JOURNEYS_QUALITY_OUTPUT_DIR": str(quality.output_dir),
            "COLUMNS": "200",
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 1, finished.stdout + finished.stderr
    assert BROKEN in finished.stdout
    assert "10 of 30" in finished.stdout  # how many rows
    assert "shipping.parcel_teleported" in finished.stdout  # an example
    assert "raw gate FAILED" in finished.stdout
    assert "Traceback" not in finished.stderr
    [(stored,)] = query(
        loaded,
        f"select count(*) from quality.expectation_results where expectation = '{BROKEN}' and not success",
    )
    assert stored == 1


def test_the_pipeline_skips_dbt_when_a_critical_raw_expectation_fails(
    loaded: str, quality: QualitySettings, no_dbt: list[Any]
) -> None:
    execute(loaded, [BREAK])
    result = pipeline.gated_transform(WarehouseSettings(url=loaded), quality=quality)
    assert no_dbt == []
    assert [stage.name for stage in result.stages] == ["check raw"]
    assert result.problem is not None and BROKEN in result.problem
    assert "dbt did not run" in result.problem


def test_a_warning_is_reported_and_the_run_goes_on_to_dbt(
    loaded: str, tmp_path: Path, no_dbt: list[Any]
) -> None:
    execute(loaded, [BREAK])
    quality = QualitySettings(output_dir=tmp_path / "gx", severity={BROKEN: "warning"})
    gate = pipeline.check("raw", WarehouseSettings(url=loaded), quality=quality)
    assert gate.passed
    assert [o.name for o in gate.warnings] == [BROKEN]
    with pytest.raises(TransformCalled):
        pipeline.gated_transform(WarehouseSettings(url=loaded), quality=quality)
    assert len(no_dbt) == 1


def test_a_check_leaves_the_duckdb_file_free_for_the_next_writer(
    duckdb_template: str,
    tmp_path: Path,
    kafka: KafkaSettings,
    loader_settings: LoaderSettings,
    quality: QualitySettings,
) -> None:
    url = clone(duckdb_template, tmp_path)
    pipeline.check("raw", WarehouseSettings(url=url), quality=quality)
    # DuckDB refuses a read-write connection while this process still holds a read-only one.
    with connect_duckdb(parse_url(url)) as con:
        con.execute("create table raw.after_check as select 1 as ok")
    publish(kafka, stream(40, seed=8))
    assert load(kafka, loader_settings, url).loaded == 40


def test_a_gate_with_nothing_to_check_says_what_to_run_first(
    tmp_path: Path, quality: QualitySettings
) -> None:
    with pytest.raises(QualityError) as raised:
        pipeline.check("raw", WarehouseSettings(url=f"duckdb:///{tmp_path}/empty.duckdb"), quality=quality)
    message = describe(raised.value)
    assert message is not None
    assert "raw.touchpoints" in message and "journeys ingest" in message


def test_marts_gate_before_dbt_says_to_transform_first(loaded: str, quality: QualitySettings) -> None:
    with pytest.raises(QualityError, match="journeys transform"):
        pipeline.check("marts", WarehouseSettings(url=loaded), quality=quality)


def test_the_password_stays_out_of_data_docs_and_results(
    postgres_template: str, tmp_path: Path, quality: QualitySettings
) -> None:
    url = clone(postgres_template, tmp_path)
    try:
        secret = "marker-not-a-real-password"
        # The test server trusts local connections, so any password is accepted (and ignored).
        with_password = url.replace("postgres@", f"postgres:{secret}@", 1)
        assert secret in with_password
        assert pipeline.check("raw", WarehouseSettings(url=with_password), quality=quality).passed
        assert quality.output_dir is not None
        written = [p.read_text(errors="replace") for p in quality.output_dir.rglob("*") if p.is_file()]
        assert written and not any(secret in text for text in written)
        rows = query(url, "select * from quality.expectation_results")
        assert rows and secret not in repr(rows)
    finally:
        drop(url)
