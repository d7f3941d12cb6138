"""Turns the errors a person can fix into one sentence and an exit code, never a traceback."""

from __future__ import annotations

import re

import psycopg
from pydantic import ValidationError
from pydantic_settings import SettingsError

from expectations.errors import QualityError
from journeys.report import ReportError
from journeys.transform import TransformError
from journeys_core.privacy import PrivacyError
from journeys_core.settings import ALL_SETTINGS, variable_names
from journeys_core.warehouse import WarehouseError
from streams.broker import BrokerError
from streams.consume import DeadLetterError
from streams.continuity import PartitionReplaced
from streams.kafka_config import KafkaConfigError
from streams.produce import PublishError
from streams.quarantine import QuarantineError
from streams.topics import BrokerUnavailable

USER_ERRORS: tuple[type[Exception], ...] = (
    WarehouseError,
    BrokerError,
    BrokerUnavailable,
    KafkaConfigError,
    PublishError,
    DeadLetterError,
    PartitionReplaced,
    TimeoutError,
    TransformError,
    ReportError,
    QualityError,
    PrivacyError,
    QuarantineError,
)


def settings_message(error: ValidationError) -> str:
    """Name the environment variable behind a settings error, since that is what people set."""
    prefixes = {cls.__name__: str(cls.model_config.get("env_prefix", "")) for cls in ALL_SETTINGS}
    prefix = prefixes.get(getattr(error, "title", ""), "JOURNEYS_")
    parts = []
    for item in error.errors():
        field, *inside = (str(part) for part in item["loc"])
        where = f" (at {'.'.join(inside)!r})" if inside else ""  # a key of a JSON-valued setting
        parts.append(f"{(prefix + field).upper()}{where}: {item['msg'].removeprefix('Value error, ')}")
    return "invalid setting " + "; ".join(parts)


def unparsable_setting_message(error: SettingsError) -> str:
    """A JSON-valued setting that is not JSON: name the variable and show the expected shape."""
    found = re.search(r'field "(\w+)"', str(error))
    field = found.group(1) if found else ""
    names = [(key, name) for key, name in variable_names().items() if key.endswith(f".{field}")]
    if not names:
        return f"invalid setting: {error}"
    key, name = names[0]
    cls = next(cls for cls in ALL_SETTINGS if cls.__name__ == key.split(".")[0])
    usage = (cls.model_fields[field].description or "").removeprefix(f"{name}: ")
    cause = f" ({error.__cause__})" if error.__cause__ else ""
    return f"invalid setting {name}: not valid JSON{cause}; expected {usage}"


def describe(error: BaseException) -> str | None:
    """The one-sentence message for an error a person can fix, or None for a real bug."""
    if isinstance(error, ValidationError):
        return settings_message(error)
    if isinstance(error, SettingsError):
        return unparsable_setting_message(error)
    if isinstance(error, USER_ERRORS):
        return str(error)
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        # Least-privilege roles (journeys roles) make this the usual mistake: the wrong login.
        first = str(error).strip().splitlines()[0] if str(error).strip() else "permission denied"
        return (
            f"PostgreSQL refused it ({first}): connect as the role meant for this command "
            "(journeys_loader ingests, journeys_transformer transforms and checks), or run "
            "`journeys roles` as an admin first"
        )
    return None
