"""The one rule about the PII key that every command writing to PostgreSQL obeys."""

from __future__ import annotations

from journeys_core.settings import PrivacySettings
from journeys_core.warehouse import WarehouseUrl


class PrivacyError(Exception):
    """The configured PII key may not be used with this warehouse; the message says what to set."""


def refuse_development_key(target: WarehouseUrl, privacy: PrivacySettings, command: str) -> None:
    """PostgreSQL holds shared, long-lived data: emails and phones there need a key of your own."""
    if target.kind == "postgresql" and privacy.uses_development_key:
        raise PrivacyError(
            f"`journeys {command}` refuses to write to PostgreSQL with the built-in development PII "
            "key: set JOURNEYS_PII_KEY to a secret of your own (the development key is for local "
            "DuckDB files only)"
        )
