"""`journeys roles`: least-privilege PostgreSQL roles for the loader, the transformer and analysts."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from journeys_core.roles import ANALYST, LOADER, OWNERS, TRANSFORMER, ensure_roles
from journeys_core.settings import RoleSettings, WarehouseSettings

out = Console()

_CAN = {
    LOADER: "writes raw (owns its tables); nothing else",
    TRANSFORMER: "reads raw; writes staging, intermediate, marts, quality",
    ANALYST: "reads marts; nothing else",
}


def roles() -> None:
    """Create the PostgreSQL roles journeys_loader, journeys_transformer and journeys_analyst.

    Run it once per database as an admin (JOURNEYS_WAREHOUSE_URL with a superuser): it creates
    the roles when missing (LOGIN; passwords from JOURNEYS_ROLES_*_PASSWORD when set), the
    schemas raw, staging, intermediate, marts and quality, and the grants, including default
    privileges so marts built later are readable by the analyst. Safe to run again at any time.
    Then point the loader at postgresql://journeys_loader@..., dbt at journeys_transformer.
    """
    report = ensure_roles(WarehouseSettings().url, RoleSettings())
    table = Table(title=f"journeys roles in database {report.database}", show_header=True)
    table.add_column("role")
    table.add_column("status")
    table.add_column("owns schemas")
    table.add_column("may")
    for role, can in _CAN.items():
        status = "created" if role in report.created else "exists"
        if role in report.passwords_set:
            status += ", password set"
        owned = ", ".join(schema for schema, owner in OWNERS.items() if owner == role)
        table.add_row(role, status, owned, can)
    out.print(table)
    if report.reassigned:
        out.print(f"{report.reassigned} existing tables and views were handed to their schema's owner")
