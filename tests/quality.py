"""Helpers for the quality-gate tests: run SQL directly, copy tables and whole warehouses."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

import duckdb
import psycopg

from journeys_core.warehouse import parse_url


def execute(url: str, statements: Iterable[str]) -> None:
    """Run statements in one transaction, straight on the warehouse (tests about data only)."""
    target = parse_url(url)
    if target.kind == "duckdb":
        with duckdb.connect(str(target.path)) as con:
            con.execute("begin")
            for statement in statements:
                con.execute(statement)
            con.execute("commit")
        return
    with psycopg.connect(target.conninfo) as pg:
        for statement in statements:
            pg.execute(statement)  # type: ignore[arg-type]  # test SQL, built from constants


def scratch_copy(url: str, tables: Iterable[str]) -> dict[str, str]:
    """Copy `schema.table`s into fresh scratch schemas; returns {original schema: scratch schema}.

    CREATE TABLE AS copies the rows but not the constraints, so a crafted row can break what a
    NOT NULL or a primary key would otherwise refuse, as data from another writer could.
    """
    tag = uuid.uuid4().hex[:8]
    schemas: dict[str, str] = {}
    statements: list[str] = []
    for name in tables:
        schema, table = name.split(".")
        if schema not in schemas:
            schemas[schema] = f"scratch_{tag}_{schema}"
            statements.append(f"create schema {schemas[schema]}")
        statements.append(f"create table {schemas[schema]}.{table} as select * from {schema}.{table}")
    execute(url, statements)
    return schemas


def clone(url: str, directory: Path) -> str:
    """A copy of a warehouse for one test: a copied DuckDB file, or a PostgreSQL template copy."""
    target = parse_url(url)
    if target.kind == "duckdb":
        assert target.path is not None
        copy = directory / f"clone-{uuid.uuid4().hex[:8]}.duckdb"
        shutil.copyfile(target.path, copy)
        return f"duckdb:///{copy}"
    base, source = target.conninfo.rsplit("/", 1)
    name = f"journeys_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'create database "{name}" template "{source}"')  # type: ignore[arg-type]
    return f"{base}/{name}"


def drop(url: str) -> None:
    """Drop a PostgreSQL clone (DuckDB clones live in the test's temporary folder)."""
    target = parse_url(url)
    if target.kind == "postgresql":
        base, name = target.conninfo.rsplit("/", 1)
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')  # type: ignore[arg-type]
