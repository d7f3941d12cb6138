"""A duckdb_engine dialect whose cursors fetch each result as soon as it is executed.

Why: duckdb_engine hands SQLAlchemy the DuckDB connection itself as the cursor, so a result
lives only until the next statement on that connection. Great Expectations executes a query,
leaves `with engine.connect()` (the pool rolls the connection back on return) and only then
calls `fetchall()`: the rollback has already dropped the rows, and every metric came back empty.
SQLite and psycopg buffer results client-side, which is why GX works on them; this dialect
buffers DuckDB results the same way, so GX behaves (and uses memory) as it does on PostgreSQL.

Use it with a `duckdb+eager:///path/to/file.duckdb` URL once this module is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb_engine
from sqlalchemy.dialects import registry

URL_SCHEME = "duckdb+eager"


class EagerCursor:
    """A DB-API cursor over a duckdb_engine cursor that reads every result row at execute time."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._rows: list[tuple[Any, ...]] = []
        self._position = 0
        self._description: Sequence[Any] | None = None

    def execute(self, statement: str, parameters: Any = None, context: Any = None) -> None:
        self._inner.execute(statement, parameters, context)
        self._description = self._inner.description
        # Statements without a result (DDL, SET, COMMIT) have no description to fetch from.
        self._rows = list(self._inner.fetchall()) if self._description is not None else []
        self._position = 0

    def executemany(self, statement: str, parameters: Any = None, context: Any = None) -> None:
        self._description, self._rows, self._position = None, [], 0
        self._inner.executemany(statement, parameters, context)

    @property
    def description(self) -> Sequence[Any] | None:
        return self._description

    @property
    def rowcount(self) -> int:
        return len(self._rows) if self._description is not None else -1

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._position >= len(self._rows):
            return None
        row = self._rows[self._position]
        self._position += 1
        return row

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        count = 1 if size is None else size
        rows = self._rows[self._position : self._position + count]
        self._position += len(rows)
        return rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows = self._rows[self._position :]
        self._position = len(self._rows)
        return rows

    def close(self) -> None:
        self._rows, self._position = [], 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class EagerConnection:
    """The duckdb_engine connection wrapper, handing out eager cursors."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def cursor(self) -> EagerCursor:
        return EagerCursor(self._inner.cursor())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class EagerDuckDBDialect(duckdb_engine.Dialect):
    """duckdb_engine's dialect (same SQL, same name), with results buffered at execute time."""

    driver = "eager"
    supports_statement_cache = False  # as duckdb_engine's; SQLAlchemy wants each dialect to say so

    def connect(self, *cargs: Any, **cparams: Any) -> Any:
        return EagerConnection(super().connect(*cargs, **cparams))


registry.register(URL_SCHEME.replace("+", "."), __name__, EagerDuckDBDialect.__name__)
