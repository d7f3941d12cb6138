"""Fixtures that start real services: the embedded broker, DuckDB files, PostgreSQL databases."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from journeys_core.settings import KafkaSettings, LoaderSettings
from streams.broker import EmbeddedBroker
from streams.topics import ensure_topics
from tests.helpers import fresh_database

POSTGRES_URL = os.environ.get("JOURNEYS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

# dbt's target/ and the GX Data Docs go to a folder of this test process, inherited by the commands
# it starts: parallel workers never write the same manifest, and the repository stays clean.
_SCRATCH = Path(tempfile.mkdtemp(prefix="journeys-tests-"))
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)
os.environ.setdefault("DBT_TARGET_PATH", str(_SCRATCH / "dbt-target"))
os.environ.setdefault("JOURNEYS_QUALITY_OUTPUT_DIR", str(_SCRATCH / "quality"))


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(partitions=3) as embedded:
        yield embedded


@pytest.fixture
def kafka(broker: EmbeddedBroker) -> KafkaSettings:
    """Settings with topics and a consumer group of this test's own, on the shared broker."""
    name = uuid.uuid4().hex[:10]
    settings = broker.settings().model_copy(update={"topic_prefix": f"t{name}", "consumer_group": f"g{name}"})
    ensure_topics(settings)
    return settings


@pytest.fixture
def loader_settings() -> LoaderSettings:
    return LoaderSettings(idle_seconds=1.0, batch_max_seconds=1.0)


@pytest.fixture
def duckdb_url(tmp_path: os.PathLike[str]) -> str:
    return f"duckdb:///{tmp_path}/warehouse.duckdb"


def _postgres_available() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3, autocommit=True):
            return None
    except psycopg.OperationalError as error:
        return str(error).strip().splitlines()[0]


@pytest.fixture(scope="session")
def postgres_server() -> str:
    problem = _postgres_available()
    if problem is not None:
        message = (
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({problem}); start it, or set "
            "JOURNEYS_TEST_POSTGRES_URL to a server where this user may CREATE DATABASE"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh database per test, dropped afterwards."""
    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture
def postgres_url_2(postgres_server: str) -> Iterator[str]:
    """A second fresh database, for tests that compare two warehouses."""
    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this runs once per warehouse."""
    fixture = "duckdb_url" if request.param == "duckdb" else "postgres_url"
    return str(request.getfixturevalue(fixture))
