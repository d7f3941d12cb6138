"""The cause of GX's empty metrics on DuckDB, and the dialect that fixes it (expectations/duckdb_eager.py)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from expectations import duckdb_eager


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "eager.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw; create table raw.numbers as select range as n from range(5)")
    return path


def _read_after_return_to_pool(url: str) -> list[tuple[int, ...]]:
    """What GX does: execute, leave `with engine.connect()`, and only then fetch."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            result = connection.execute(sa.text("select n from raw.numbers order by n"))
        return [tuple(row) for row in result.fetchall()]
    finally:
        engine.dispose()


def test_plain_duckdb_engine_loses_rows_fetched_after_the_connection_went_back(warehouse: Path) -> None:
    # The upstream behaviour this project works around; if this starts returning rows after an
    # upgrade, the eager dialect may no longer be needed.
    assert _read_after_return_to_pool(f"duckdb:///{warehouse}") == []


def test_the_eager_dialect_keeps_them(warehouse: Path) -> None:
    url = f"{duckdb_eager.URL_SCHEME}:///{warehouse}"
    assert _read_after_return_to_pool(url) == [(0,), (1,), (2,), (3,), (4,)]


def test_eager_cursors_fetch_like_any_db_api_cursor(warehouse: Path) -> None:
    engine = sa.create_engine(f"{duckdb_eager.URL_SCHEME}:///{warehouse}", connect_args={"read_only": True})
    try:
        with engine.connect() as connection:
            result = connection.execute(sa.text("select n from raw.numbers order by n"))
            assert tuple(result.fetchone() or ()) == (0,)
            assert [tuple(r) for r in result.fetchmany(2)] == [(1,), (2,)]
            assert [tuple(r) for r in result.fetchall()] == [(3,), (4,)]
            assert connection.execute(sa.text("select count(*) from raw.numbers")).scalar() == 5
            with pytest.raises(sa.exc.DBAPIError):
                connection.execute(sa.text("create table raw.more (n integer)"))  # read-only
    finally:
        engine.dispose()
    with duckdb.connect(str(warehouse)) as con:  # released: a writer may open it again
        assert con.execute("select count(*) from raw.numbers").fetchone() == (5,)
