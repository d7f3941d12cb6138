"""Settings come from the environment and map onto the Kafka client correctly, security included."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError

from expectations.errors import QualityError
from expectations.runner import _require_writable
from journeys.errors import describe
from journeys_core.settings import (
    KafkaSettings,
    PrivacySettings,
    QualitySettings,
    WarehouseSettings,
    misspelt_variables,
)
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


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:secret@h/db",
        "postgresql://u:sec%2Fret@h:5432/db",
        "postgresql://u@h/db?sslmode=require&password=secret",
        "postgresql://u:secret@/db",  # no host: refused, without the password
    ],
)
def test_passwords_are_redacted(url: str) -> None:
    try:
        shown = parse_url(url).redacted()
    except WarehouseError as error:
        shown = str(error)
    assert "secret" not in shown and "sec%2Fret" not in shown


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:se/cr#et@h:5432/db",
        "postgresql://u:sec@ret@h/db",
        "postgresql://u:se?cret@h/db",
        "postgresql://u:se#cret@h/db",
    ],
)
def test_a_password_to_percent_encode_is_refused_without_quoting_it(url: str) -> None:
    with pytest.raises(WarehouseError, match="percent-encode") as raised:
        parse_url(url)
    assert "cret" not in str(raised.value) and "ret@" not in str(raised.value)


def test_an_at_sign_in_a_query_value_is_not_a_password() -> None:
    target = parse_url("postgresql://h:5432/db?application_name=a@b")
    assert target.redacted() == "postgresql://h:5432/db?application_name=a@b"


# -- Kafka security, as kafka-python itself uses the options --------------------------------------


def test_scram_from_the_environment_reaches_kafka_pythons_scram_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kafka.net.sasl import get_sasl_mechanism

    for name, value in {
        "SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "SASL_MECHANISM": "SCRAM-SHA-256",
        "SASL_USERNAME": "journeys-loader",
        "SASL_PASSWORD": "from-the-environment",
    }.items():
        monkeypatch.setenv(f"JOURNEYS_KAFKA_{name}", value)
    settings = KafkaSettings()
    assert "from-the-environment" not in repr(settings), "secrets stay out of reprs and logs"
    options = client_options(settings)
    mechanism = get_sasl_mechanism(options["sasl_mechanism"])(**options)
    assert mechanism.auth_bytes().startswith(b"n,,n=journeys-loader,r=")  # SCRAM client-first
    assert "ssl_cafile" not in options, "no TLS options without a TLS protocol"


def test_plaintext_ignores_stray_security_settings(tmp_path: Path) -> None:
    settings = KafkaSettings(
        sasl_mechanism="PLAIN",
        sasl_username="u",
        sasl_password="p",  # type: ignore[arg-type]
        ssl_cafile=tmp_path / "unused.pem",
    )
    options = client_options(settings)
    assert not {name for name in options if name.startswith(("sasl", "ssl"))}


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
def test_every_option_is_one_every_kafka_client_accepts(protocol: str, tmp_path: Path) -> None:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient

    ca = tmp_path / "ca.pem"
    ca.write_text("---")
    options = client_options(
        KafkaSettings(
            security_protocol=protocol,  # type: ignore[arg-type]
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="u",
            sasl_password="p",  # type: ignore[arg-type]
            ssl_cafile=ca,
            ssl_check_hostname=False,
        )
    )
    for client in (KafkaConsumer, KafkaProducer, KafkaAdminClient):
        assert set(options) <= set(client.DEFAULT_CONFIG), client.__name__
    if protocol.endswith("SSL"):
        assert options["ssl_check_hostname"] is False


def test_mutual_tls_files_load_into_kafka_pythons_ssl_context(tmp_path: Path) -> None:
    import ssl

    from kafka.net.transport import KafkaSSLTransport

    files = _certificates(tmp_path, key_password=b"key-pass")
    settings = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="u",
        sasl_password="p",  # type: ignore[arg-type]
        ssl_cafile=files["ca"],
        ssl_certfile=files["cert"],
        ssl_keyfile=files["key"],
        ssl_password="key-pass",  # type: ignore[arg-type]
    )
    options = client_options(settings)
    config = {
        **KafkaSSLTransport.DEFAULT_CONFIG,
        **{k: v for k, v in options.items() if k.startswith("ssl_")},
    }
    context = KafkaSSLTransport._build_ssl_context(config)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert [dict(item[0] for item in ca["subject"]) for ca in context.get_ca_certs()] == [
        {"commonName": "journeys test CA"}
    ]
    wrong = {**config, "ssl_password": "not-the-pass"}
    with pytest.raises(ssl.SSLError):
        KafkaSSLTransport._build_ssl_context(wrong)


def _certificates(folder: Path, key_password: bytes) -> dict[str, Path]:
    """A throwaway CA and a client certificate it signed, the key encrypted with `key_password`."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    now = dt.datetime.now(dt.UTC)
    ca_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("journeys test CA"))
        .issuer_name(name("journeys test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    client = (
        x509.CertificateBuilder()
        .subject_name(name("journeys-loader"))
        .issuer_name(ca.subject)
        .public_key(client_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    files = {"ca": folder / "ca.pem", "cert": folder / "client.pem", "key": folder / "client.key"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(client.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(
        client_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(key_password),
        )
    )
    return files


# -- Settings people get wrong: one sentence that names the variable --------------------------------


def test_a_misspelt_variable_is_matched_to_the_setting_it_nearly_names() -> None:
    environ = {
        "JOURNEYS_WAREHOUSE_URI": "postgresql://u@h/db",
        "JOURNEYS_WAREHOUSE_URL": "duckdb:///w.duckdb",  # a real one
        "JOURNEYS_DBT_PG_HOST": "h",  # read by dbt's profile, not a setting, and not close to one
        "JOURNEYS_TEST_POSTGRES_URL": "postgresql://u@h/db",
    }
    assert misspelt_variables(environ) == [("JOURNEYS_WAREHOUSE_URI", "JOURNEYS_WAREHOUSE_URL")]


def test_a_setting_that_is_not_json_names_the_variable_and_the_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JOURNEYS_QUALITY_SEVERITY", "{'raw.touchpoints.volume_within_bounds': 'warning'}")
    with pytest.raises(SettingsError) as raised:
        QualitySettings()
    message = describe(raised.value)
    assert message is not None and message.startswith(
        "invalid setting JOURNEYS_QUALITY_SEVERITY: not valid JSON"
    )
    assert '{"raw.touchpoints.volume_within_bounds": "warning"}' in message


def test_a_bad_value_inside_a_json_setting_names_the_variable_and_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JOURNEYS_QUALITY_SEVERITY", '{"raw.touchpoints.volume_within_bounds": "warn"}')
    with pytest.raises(ValidationError) as raised:
        QualitySettings()
    assert describe(raised.value) == (
        "invalid setting JOURNEYS_QUALITY_SEVERITY (at 'raw.touchpoints.volume_within_bounds'): "
        "Input should be 'critical', 'warning' or 'info'"
    )


def test_an_unwritable_quality_output_folder_is_one_sentence(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(QualityError, match="set JOURNEYS_QUALITY_OUTPUT_DIR to a writable folder"):
        _require_writable(blocker / "results")
