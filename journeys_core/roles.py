"""PostgreSQL roles with least privilege: the loader writes raw, the transformer reads raw and
writes the model schemas, the analyst reads the marts. Idempotent: `journeys roles` re-applies it.

Roles belong to the whole cluster and may be shared by several databases (and created by a
dbt run: the analyst role): they are created when missing and never dropped. Schemas and grants
belong to the database in the URL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from journeys_core.settings import RoleSettings
from journeys_core.warehouse import WarehouseError, WarehouseUrl, connect_postgres, parse_url

LOADER = "journeys_loader"
TRANSFORMER = "journeys_transformer"
ANALYST = "journeys_analyst"
ROLES = (LOADER, TRANSFORMER, ANALYST)
RAW = "raw"
MODEL_SCHEMAS = ("staging", "intermediate", "marts", "quality")  # quality: the GX results table
MARTS = "marts"
# Which role owns each schema, and with it every table in it (the loader alters raw tables).
OWNERS = {RAW: LOADER, **{schema: TRANSFORMER for schema in MODEL_SCHEMAS}}

_CREATE_ROLE = """
do $$
begin
    if not exists (select from pg_roles where rolname = {name}) then
        create role {role} login;
    end if;
exception
    when duplicate_object or unique_violation then null;  -- created meanwhile elsewhere
end
$$
"""
_RELATIONS = """
select c.relname, c.relkind from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm') and pg_get_userbyid(c.relowner) <> %s
"""
_KINDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view"}


@dataclass(frozen=True)
class RolesReport:
    """What `journeys roles` did in one database."""

    database: str
    created: tuple[str, ...]  # roles that did not exist before
    passwords_set: tuple[str, ...]
    reassigned: int  # existing tables and views handed to their schema's owner


def ensure_roles(url: str, settings: RoleSettings | None = None) -> RolesReport:
    """Create the three roles, the schemas, and the grants, as a user allowed to create roles."""
    target = parse_url(url)
    if target.kind != "postgresql":
        raise WarehouseError(
            "`journeys roles` needs PostgreSQL (DuckDB files have no roles): set "
            "JOURNEYS_WAREHOUSE_URL to postgresql://admin@host:5432/db"
        )
    settings = settings or RoleSettings()
    passwords = {
        LOADER: settings.loader_password,
        TRANSFORMER: settings.transformer_password,
        ANALYST: settings.analyst_password,
    }
    with connect_postgres(target, autocommit=True) as con:
        _require_role_admin(target, con)
        created = tuple(role for role in ROLES if _retry(lambda role=role: _create_role(con, role)))
        for role, password in passwords.items():
            if password is not None:
                statement = sql.SQL("alter role {} with password {}").format(
                    sql.Identifier(role), sql.Literal(password.get_secret_value())
                )
                _retry(lambda statement=statement: con.execute(statement))
        with con.transaction():
            # Two `journeys roles` on one database (an init container restarted) take turns.
            con.execute("select pg_advisory_xact_lock(hashtext('journeys roles'))")
            reassigned = _schemas_and_grants(con)
        database = str(con.info.dbname)
    return RolesReport(
        database=database,
        created=created,
        passwords_set=tuple(role for role, password in passwords.items() if password is not None),
        reassigned=reassigned,
    )


def _require_role_admin(target: WarehouseUrl, con: psycopg.Connection[Any]) -> None:
    row = con.execute(
        "select rolsuper or rolcreaterole from pg_roles where rolname = current_user"
    ).fetchone()
    if not row or not row[0]:
        raise WarehouseError(
            f"`journeys roles` must connect as a superuser (or a role with CREATEROLE that owns the "
            f"database), not as {target.redacted()}: point JOURNEYS_WAREHOUSE_URL at an admin user"
        )


def _create_role(con: psycopg.Connection[Any], role: str) -> bool:
    """Create the role if missing and make sure it can log in; True if it was created here."""
    found = con.execute("select rolcanlogin from pg_roles where rolname = %s", [role]).fetchone()
    if found is None:
        con.execute(sql.SQL(_CREATE_ROLE).format(name=sql.Literal(role), role=sql.Identifier(role)))
    elif not found[0]:  # e.g. the analyst role a dbt run created with NOLOGIN
        con.execute(sql.SQL("alter role {} login").format(sql.Identifier(role)))
    return found is None


def _retry(action: Any) -> Any:
    """Role rows are shared by the cluster: two sessions altering one at once get a retryable error."""
    for attempt in range(5):
        try:
            return action()
        except psycopg.errors.InternalError as error:
            if "concurrently" not in str(error) or attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    return None


def _schemas_and_grants(con: psycopg.Connection[Any]) -> int:
    reassigned = 0
    for schema, owner in OWNERS.items():
        con.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        con.execute(
            sql.SQL("alter schema {} owner to {}").format(sql.Identifier(schema), sql.Identifier(owner))
        )
        con.execute(sql.SQL("revoke all on schema {} from public").format(sql.Identifier(schema)))
        # Tables made before the roles existed (by an admin loader or dbt run) move to the owner.
        for name, kind in con.execute(_RELATIONS, [schema, owner]).fetchall():
            con.execute(
                sql.SQL("alter {} {}.{} owner to {}").format(
                    sql.SQL(_KINDS[kind]), sql.Identifier(schema), sql.Identifier(name), sql.Identifier(owner)
                )
            )
            reassigned += 1
    grants = [
        # The transformer reads what the loader lands, now and later.
        f"grant usage on schema {RAW} to {TRANSFORMER}",
        f"grant select on all tables in schema {RAW} to {TRANSFORMER}",
        f"alter default privileges for role {LOADER} in schema {RAW} grant select on tables to {TRANSFORMER}",
        # The analyst reads the marts and nothing else; models built later are covered too.
        f"grant usage on schema {MARTS} to {ANALYST}",
        f"grant select on all tables in schema {MARTS} to {ANALYST}",
        f"alter default privileges for role {TRANSFORMER} in schema {MARTS} "
        f"grant select on tables to {ANALYST}",
    ]
    for statement in grants:  # only constants above: no data in these statements
        con.execute(statement)
    return reassigned
