"""dbt-duckdb plugin: hands JOURNEYS_PII_KEY to DuckDB as the session variable `journeys_pii_key`.

The staging models hash emails and phones with it (macro `pii_hash`). Passing it this way keeps
the key out of every SQL text dbt writes: compiled models, logs and the docs site.
Enabled in dbt_project/profiles.yml; PostgreSQL gets the key through PGOPTIONS instead.
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from journeys_core.settings import PrivacySettings


class Plugin(BasePlugin):
    def _set(self, connection: Any) -> None:
        # Read on every connection: dbt-duckdb keeps one plugin per process, the key may change.
        key = PrivacySettings().pii_key.get_secret_value()
        connection.execute("set variable journeys_pii_key = ?", [key])

    def configure_connection(self, conn: Any) -> None:
        self._set(conn)

    def configure_cursor(self, cursor: Any) -> None:
        # DuckDB variables belong to one connection; each dbt cursor is a connection of its own.
        self._set(cursor)
