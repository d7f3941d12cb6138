"""Turns the errors a person can fix into one sentence and an exit code, never a traceback."""

from __future__ import annotations

import psycopg
from pydantic import ValidationError

from expectations.errors import QualityError
from journeys.report import ReportError
from journeys.transform import TransformError
from journeys_core.privacy import PrivacyError
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
    prefix = ""
    config = getattr(error, "title", "")
    prefixes = {
        "KafkaSettings": "JOURNEYS_KAFKA_",
        "WarehouseSettings": "JOURNEYS_WAREHOUSE_",
        "LoaderSettings": "JOURNEYS_LOADER_",
        "PrivacySettings": "JOURNEYS_",
        "QualitySettings": "JOURNEYS_QUALITY_",
        "RoleSettings": "JOURNEYS_ROLES_",
    }
    prefix = prefixes.get(config, "JOURNEYS_")
    parts = []
    for item in error.errors():
        name = prefix + "_".join(str(part) for part in item["loc"]).upper()
        parts.append(f"{name}: {item['msg'].removeprefix('Value error, ')}")
    return "invalid setting " + "; ".join(parts)


def describe(error: BaseException) -> str | None:
    """The one-sentence message for an error a person can fix, or None for a real bug."""
    if isinstance(error, ValidationError):
        return settings_message(error)
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
