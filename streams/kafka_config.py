"""Maps `KafkaSettings` onto kafka-python client options, security included."""

from __future__ import annotations

import logging
from typing import Any

from journeys_core.settings import KafkaSettings


class KafkaConfigError(Exception):
    """Kafka settings that cannot work together; the message says which variable to fix."""


def quiet_payload_logging() -> None:
    """kafka-python logs whole records at DEBUG, and records carry emails and phones: stop at INFO."""
    logger = logging.getLogger("kafka")
    if logger.level < logging.INFO:  # NOTSET included: it would inherit a DEBUG root
        logger.setLevel(logging.INFO)


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Options shared by producers, consumers and admin clients."""
    quiet_payload_logging()  # every client is configured here, so no client logs a payload
    options: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in settings.bootstrap_servers.split(",")],
        "security_protocol": settings.security_protocol,
        "request_timeout_ms": settings.request_timeout_ms,
    }
    if settings.security_protocol.startswith("SASL"):
        if not (settings.sasl_mechanism and settings.sasl_username and settings.sasl_password):
            raise KafkaConfigError(
                f"JOURNEYS_KAFKA_SECURITY_PROTOCOL={settings.security_protocol} needs "
                "JOURNEYS_KAFKA_SASL_MECHANISM, JOURNEYS_KAFKA_SASL_USERNAME and "
                "JOURNEYS_KAFKA_SASL_PASSWORD"
            )
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_check_hostname"] = settings.ssl_check_hostname
        for name, path in (
            ("ssl_cafile", settings.ssl_cafile),
            ("ssl_certfile", settings.ssl_certfile),
            ("ssl_keyfile", settings.ssl_keyfile),
        ):
            if path is not None:
                if not path.is_file():
                    raise KafkaConfigError(
                        f"JOURNEYS_KAFKA_{name.upper()} points at {path}, which is not a file"
                    )
                options[name] = str(path)
        if settings.ssl_password is not None:
            options["ssl_password"] = settings.ssl_password.get_secret_value()
    return options
