"""Emails and phones never reach the logs: the loader and replay log counts and reasons, not payloads."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from journeys_core.settings import KafkaSettings, LoaderSettings, PrivacySettings
from streams.replay import replay
from tests.events import encode, event
from tests.helpers import load, publish
from tests.marts import TEST_PII_KEY

EMAILS = [f"log.probe.{n}@example.net" for n in range(4)]
PHONES = ["+44 7700 900111", "+44 7700 900222", "+44 7700 900333", "+44 7700 900444"]


def test_loader_and_replay_never_log_emails_or_phones(
    kafka: KafkaSettings,
    loader_settings: LoaderSettings,
    warehouse_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, the Kafka client's debug chatter included
    customers = [{"email": email, "phone": phone} for email, phone in zip(EMAILS, PHONES, strict=True)]
    records = [
        ("sales", b"k", encode(event(customer=customers[0]))),
        ("sales", b"k", encode(event(customer=customers[1]))),
    ]
    # Refused records carry PII too: a bad event type, and attributes of the wrong type.
    records.append(("sales", b"k", encode(event("sales.nope", customer=customers[2]))))
    records.append(("sales", b"k", encode(event(customer=customers[3], attributes={"amount": PHONES[3]}))))
    publish(kafka, records)

    stats = load(kafka, loader_settings, warehouse_url)
    assert (stats.loaded, stats.quarantined) == (2, 2)
    replay(warehouse_url, privacy=PrivacySettings(pii_key=SecretStr(TEST_PII_KEY)))

    assert any("committed batch" in record.getMessage() for record in caplog.records), "logs were captured"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    digits = [phone.replace(" ", "") for phone in PHONES]
    leaked = [value for value in (*EMAILS, *PHONES, *digits) if value in logged]
    assert not leaked, f"PII in the logs: {leaked}"
