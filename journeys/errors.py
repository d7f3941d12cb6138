"""Turns the errors a person can fix into one sentence and an exit code, never a traceback."""

from __future__ import annotations

from pydantic import ValidationError

from expectations.errors import QualityError
from journeys.transform import TransformError
from journeys_core.warehouse import WarehouseError
from streams.broker import BrokerError
from streams.consume import DeadLetterError
from streams.kafka_config import KafkaConfigError
from streams.produce import PublishError
from streams.topics import BrokerUnavailable

USER_ERRORS: tuple[type[Exception], ...] = (
    WarehouseError,
    BrokerError,
    BrokerUnavailable,
    KafkaConfigError,
    PublishError,
    DeadLetterError,
    TimeoutError,
    TransformError,
    QualityError,
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
    return None
