"""Warehouse access from one URL: a DuckDB file or a PostgreSQL database, and the raw-schema DDL."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import duckdb
import psycopg


class WarehouseError(Exception):
    """A warehouse problem a person can fix; the message says how."""


@dataclass(frozen=True)
class WarehouseUrl:
    """A parsed `JOURNEYS_WAREHOUSE_URL`."""

    kind: Literal["duckdb", "postgresql"]
    url: str
    path: Path | None = None  # DuckDB file

    @property
    def conninfo(self) -> str:
        """The URL psycopg understands (it rejects SQLAlchemy-style driver suffixes)."""
        return self.url.replace("postgresql+psycopg://", "postgresql://", 1)

    def redacted(self) -> str:
        """The URL without its password, for messages and logs."""
        return _redacted(self.url)


def _redacted(url: str) -> str:
    """A well-formed URL (parse_url refuses the others) without the password it holds."""
    parts = urlsplit(url)
    userinfo, at, location = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        url = url.replace(parts.netloc, f"{userinfo.split(':', 1)[0]}:***@{location}", 1)
    return re.sub(r"(password=)[^&]*", r"\1***", url)


def _unencoded_password(rest: str) -> bool:
    """Whether the text after :// has a password with / # ? or @ in it, not percent-encoded.

    Such a password ends the URL's host part early (or adds an @), so every parser (libpq,
    urlsplit) reads another host, and error messages would quote part of the password.
    """
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if authority.count("@") > 1:
        return True
    if "@" in authority:
        return False
    path, _, query = rest[len(authority) :].partition("?")
    return "@" in path or "@" in query.split("=", 1)[0]  # an @ inside a query value is fine


def parse_url(url: str) -> WarehouseUrl:
    """Accept duckdb:///relative.duckdb, duckdb:////abs/path.duckdb or postgresql://..."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise WarehouseError(
            f"JOURNEYS_WAREHOUSE_URL {url!r} is not a URL: use duckdb:///warehouse.duckdb "
            "or postgresql://user@host:5432/db"
        )
    if scheme == "duckdb":
        path = rest.removeprefix("/")
        if not path:
            raise WarehouseError(
                f"JOURNEYS_WAREHOUSE_URL {url!r} names no file: use duckdb:///warehouse.duckdb"
            )
        return WarehouseUrl("duckdb", url, Path(path))
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        if _unencoded_password(rest):  # said without the URL: it would quote the password
            raise WarehouseError(
                "the password in JOURNEYS_WAREHOUSE_URL holds / # ? or @: percent-encode them "
                "(/ is %2F, # is %23, ? is %3F, @ is %40)"
            )
        parts = urlsplit(url)
        if not parts.hostname and "host=" not in (parts.query or ""):
            raise WarehouseError(
                f"JOURNEYS_WAREHOUSE_URL {_redacted(url)!r} names no host: use postgresql://user@host:5432/db"
            )
        return WarehouseUrl("postgresql", url.replace("postgres://", "postgresql://", 1))
    raise WarehouseError(
        f"JOURNEYS_WAREHOUSE_URL scheme {scheme!r} is not supported: use duckdb:/// or postgresql://"
    )


def connect_duckdb(
    target: WarehouseUrl, *, read_only: bool = False, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    assert target.path is not None
    directory = target.path.parent if str(target.path.parent) else Path(".")
    if not read_only and not os.access(directory if directory.exists() else Path("."), os.W_OK):
        raise WarehouseError(
            f"cannot write the DuckDB warehouse {target.path}: the folder {directory} is not "
            "writable; point JOURNEYS_WAREHOUSE_URL at a writable path"
        )
    try:
        if not read_only:
            directory.mkdir(parents=True, exist_ok=True)
        config: dict[str, str | bool | int | float | list[str]] = (
            {"memory_limit": memory_limit} if memory_limit else {}
        )
        return duckdb.connect(str(target.path), read_only=read_only, config=config)
    except duckdb.IOException as error:
        if "lock" in str(error).lower():
            raise WarehouseError(
                f"the DuckDB warehouse {target.path} is in use by another process (DuckDB allows "
                "one writer): wait for it to finish or stop it"
            ) from error
        raise WarehouseError(
            f"cannot open the DuckDB warehouse {target.path} ({error}): point JOURNEYS_WAREHOUSE_URL "
            "at a writable path"
        ) from error
    except OSError as error:
        raise WarehouseError(
            f"cannot create the DuckDB warehouse {target.path} ({error.strerror or error}): point "
            "JOURNEYS_WAREHOUSE_URL at a writable path"
        ) from error


def connect_postgres(target: WarehouseUrl, **kwargs: Any) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(target.conninfo, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
        raise WarehouseError(
            f"cannot connect to PostgreSQL at {target.redacted()} ({first_line}): check "
            "JOURNEYS_WAREHOUSE_URL and that the server is running"
        ) from error


# One raw schema for both warehouses; the few type names that differ are filled in per dialect.
_RAW_DDL = """
{create_schema}
create table if not exists raw.touchpoints (
    event_id        {uuid} not null{event_key},
    event_type      text not null,
    department      text not null,
    schema_version  integer not null,
    occurred_at     timestamptz not null,
    source          text not null,
    customer_id     text,
    email           text,
    phone           text,
    order_id        text,
    attributes      {json} not null,
    topic           text not null,
    kafka_partition integer not null,
    kafka_offset    bigint not null,
    loaded_at       timestamptz not null
);
create table if not exists raw.quarantine (
    topic           text not null,
    kafka_partition integer not null,
    kafka_offset    bigint not null,
    kafka_key       {bytes},
    payload         {bytes},
    reason          text not null,
    event_id        text,
    event_type      text,
    quarantined_at  timestamptz not null,
    replayed_at     timestamptz,
    replayed_event_id text,
    primary key (topic, kafka_partition, kafka_offset)
);
{add_replay_columns}
-- The audit of `journeys events tombstone|correct`: every change to a loaded event, with the row
-- as it was (JSON) and the corrected event as sent.
create table if not exists raw.event_corrections (
    event_id        text not null,
    action          text not null,
    reason          text not null,
    corrected_by    text not null,
    corrected_at    timestamptz not null,
    original        text not null,
    corrected       text
);
create table if not exists raw.ingest_offsets (
    consumer_group  text not null,
    topic           text not null,
    kafka_partition integer not null,
    next_offset     bigint not null,
    updated_at      timestamptz not null,
    -- SHA-256 of the value of the record at next_offset - 1, so a loader can tell that the broker
    -- still holds what was loaded (streams/continuity.py); null in rows written before it existed.
    last_value_sha256 text,
    primary key (consumer_group, topic, kafka_partition)
);
{add_offset_columns}
"""

# DuckDB keeps an ART index wholly in memory and it grows with the table, so there event_id is
# kept unique by the loader's anti-join (DuckDB has one writer); PostgreSQL enforces a key.
_TYPES = {
    "duckdb": {
        "uuid": "uuid",
        "json": "json",
        "bytes": "blob",
        "event_key": "",
        "create_schema": "create schema if not exists raw;",
        # Warehouses created before `journeys quarantine replay` existed get its columns here.
        "add_replay_columns": (
            "alter table raw.quarantine add column if not exists replayed_at timestamptz;\n"
            "alter table raw.quarantine add column if not exists replayed_event_id text;"
        ),
        # ... and those created before the partition check get its column.
        "add_offset_columns": (
            "alter table raw.ingest_offsets add column if not exists last_value_sha256 text;"
        ),
    },
    "postgresql": {
        "uuid": "uuid",
        "json": "jsonb",
        "bytes": "bytea",
        "event_key": " primary key",
        # CREATE SCHEMA checks the database privilege even when the schema exists, and the
        # journeys_loader role (journeys_core.roles) may create tables in raw but not schemas.
        "create_schema": (
            "do $$ begin if to_regnamespace('raw') is null then create schema raw; end if; end $$;"
        ),
        # Only when missing: ALTER TABLE takes an exclusive lock (and needs ownership) even when
        # the column exists, and every loader start runs this.
        "add_replay_columns": """do $$ begin
    if not exists (select from pg_attribute where attrelid = 'raw.quarantine'::regclass
                   and attname = 'replayed_at' and not attisdropped) then
        alter table raw.quarantine add column if not exists replayed_at timestamptz;
        alter table raw.quarantine add column if not exists replayed_event_id text;
    end if;
end $$;""",
        "add_offset_columns": """do $$ begin
    if not exists (select from pg_attribute where attrelid = 'raw.ingest_offsets'::regclass
                   and attname = 'last_value_sha256' and not attisdropped) then
        alter table raw.ingest_offsets add column if not exists last_value_sha256 text;
    end if;
end $$;""",
    },
}


def raw_ddl(kind: Literal["duckdb", "postgresql"]) -> str:
    return _RAW_DDL.format(**_TYPES[kind])


Row = dict[str, Any]


def read_queries(
    url: str, queries: Mapping[str, str], *, missing_ok: bool = False, denied: set[str] | None = None
) -> dict[str, list[Row]]:
    """Run read-only queries on one connection; each result is a list of column -> value rows.

    DuckDB is opened read-only, so reading never takes the single writer's place. A query on a
    table that does not exist yet raises WarehouseError, or gives no rows with `missing_ok`. With
    `denied`, a query the PostgreSQL login may not run gives no rows and its name is added there.
    """
    target = parse_url(url)
    results: dict[str, list[Row]] = {}
    if target.kind == "duckdb":
        if target.path is None or not target.path.exists():
            raise WarehouseError(
                f"the DuckDB warehouse {target.path} does not exist yet: run `journeys run` or "
                "`journeys ingest` first"
            )
        with connect_duckdb(target, read_only=True) as duck:
            for name, sql in queries.items():
                try:
                    cursor = duck.execute(sql)
                except duckdb.CatalogException as error:
                    results[name] = _missing(error, missing_ok)
                    continue
                columns = [d[0] for d in cursor.description or ()]
                results[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        return results
    with connect_postgres(target, autocommit=True) as pg:
        for name, sql in queries.items():
            try:
                pg_cursor = pg.execute(sql)
            except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName) as error:
                results[name] = _missing(error, missing_ok)
                continue
            except psycopg.errors.InsufficientPrivilege:
                if denied is None:
                    raise
                denied.add(name)
                results[name] = []
                continue
            columns = [d.name for d in pg_cursor.description or ()]
            results[name] = [dict(zip(columns, row, strict=True)) for row in pg_cursor.fetchall()]
    return results


def _missing(error: Exception, missing_ok: bool) -> list[Row]:
    if missing_ok:
        return []
    first_line = str(error).strip().splitlines()[0]
    raise WarehouseError(
        f"the warehouse has no such table yet ({first_line}): run `journeys run`, or "
        "`journeys ingest` then `journeys transform`"
    ) from error
