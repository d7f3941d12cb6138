"""Settings come from the environment and map onto the Kafka client correctly, security included."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from journeys.errors import describe
from journeys_core.settings import KafkaSettings, PrivacySettings, WarehouseSettings
from journeys_core.warehouse import WarehouseError, parse_url
from streams.kafka_config import KafkaConfigError, client_options


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JOURNEYS_KAFKA_BOOTSTRAP_SERVERS", "JOURNEYS_WAREHOUSE_URL", "JOURNEYS_PII_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert KafkaSettings().bootstrap_servers == "127.0.0.1:9092"
    assert WarehouseSettings().url == "duckdb:///warehouse.duckdb"
    assert PrivacySettings().uses_development_key


def test_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEYS_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092,kafka2:9092")
    monkeypatch.setenv("JOURNEYS_PII_KEY", "s3cret")
    assert KafkaSettings().bootstrap_servers == "kafka:9092,kafka2:9092"
    key = PrivacySettings().pii_key
    assert key.get_secret_value() == "s3cret" and "s3cret" not in repr(key)


def test_a_malformed_bootstrap_address_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEYS_KAFKA_BOOTSTRAP_SERVERS", "no-port-here")
    with pytest.raises(ValidationError) as caught:
        KafkaSettings()
    message = describe(caught.value)
    assert message is not None and "JOURNEYS_KAFKA_BOOTSTRAP_SERVERS" in message


def test_sasl_scram_over_tls_maps_to_kafka_python(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("---")
    settings = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="loader",
        sasl_password="pw",  # type: ignore[arg-type]
        ssl_cafile=ca,
    )
    options = client_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("loader", "pw")
    assert options["ssl_cafile"] == str(ca) and options["ssl_check_hostname"] is True


def test_mutual_tls_maps_certificates(tmp_path: Path) -> None:
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    for path in files.values():
        path.write_text("---")
    settings = KafkaSettings(
        security_protocol="SSL",
        ssl_cafile=files["ca"],
        ssl_certfile=files["cert"],
        ssl_keyfile=files["key"],
        ssl_password="kp",  # type: ignore[arg-type]
    )
    options = client_options(settings)
    assert options["ssl_certfile"] == str(files["cert"]) and options["ssl_password"] == "kp"
    assert "sasl_mechanism" not in options


def test_sasl_without_credentials_says_what_is_missing() -> None:
    with pytest.raises(KafkaConfigError, match="JOURNEYS_KAFKA_SASL_USERNAME"):
        client_options(KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN"))


def test_a_missing_certificate_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(KafkaConfigError, match="JOURNEYS_KAFKA_SSL_CAFILE"):
        client_options(KafkaSettings(security_protocol="SSL", ssl_cafile=tmp_path / "nope.pem"))


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("duckdb:///warehouse.duckdb", "duckdb"),
        ("duckdb:////tmp/abs.duckdb", "duckdb"),
        ("postgresql://u:p@localhost:5432/db", "postgresql"),
        ("postgres://localhost/db", "postgresql"),
    ],
)
def test_warehouse_urls(url: str, kind: str) -> None:
    assert parse_url(url).kind == kind


@pytest.mark.parametrize("url", ["warehouse.duckdb", "mysql://x/y", "duckdb:///", "postgresql:///db"])
def test_bad_warehouse_urls_say_what_to_use(url: str) -> None:
    with pytest.raises(WarehouseError, match="JOURNEYS_WAREHOUSE_URL"):
        parse_url(url)


def test_passwords_are_redacted() -> None:
    assert "secret" not in parse_url("postgresql://u:secret@h/db").redacted()
