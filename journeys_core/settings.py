"""Typed settings for every component, read from `JOURNEYS_*` environment variables.

Each component has one frozen settings object; `.env.example` documents every variable.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Used only for local DuckDB runs; PostgreSQL refuses it (see `PrivacySettings`).
DEVELOPMENT_PII_KEY = "journeys-development-key-do-not-use-in-production"


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix, frozen=True, extra="ignore", env_file=".env", env_file_encoding="utf-8"
    )


class KafkaSettings(BaseSettings):
    """Where the broker is and how to talk to it securely (`JOURNEYS_KAFKA_*`)."""

    model_config = _config("JOURNEYS_KAFKA_")

    bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="JOURNEYS_KAFKA_BOOTSTRAP_SERVERS: host:port[,host:port]"
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="JOURNEYS_KAFKA_SECURITY_PROTOCOL"
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="JOURNEYS_KAFKA_SASL_MECHANISM"
    )
    sasl_username: str | None = Field(None, description="JOURNEYS_KAFKA_SASL_USERNAME")
    sasl_password: SecretStr | None = Field(None, description="JOURNEYS_KAFKA_SASL_PASSWORD")
    ssl_cafile: Path | None = Field(None, description="JOURNEYS_KAFKA_SSL_CAFILE")
    ssl_certfile: Path | None = Field(None, description="JOURNEYS_KAFKA_SSL_CERTFILE")
    ssl_keyfile: Path | None = Field(None, description="JOURNEYS_KAFKA_SSL_KEYFILE")
    ssl_password: SecretStr | None = Field(None, description="JOURNEYS_KAFKA_SSL_PASSWORD")
    ssl_check_hostname: bool = Field(True, description="JOURNEYS_KAFKA_SSL_CHECK_HOSTNAME")
    topic_prefix: str = Field("touchpoints", description="JOURNEYS_KAFKA_TOPIC_PREFIX")
    partitions: int = Field(3, ge=1, description="JOURNEYS_KAFKA_PARTITIONS for new topics")
    consumer_group: str = Field("journeys-loader", description="JOURNEYS_KAFKA_CONSUMER_GROUP")
    # Tansu makes a group join wait about half the session timeout: keep it short.
    session_timeout_ms: int = Field(6000, ge=1000, description="JOURNEYS_KAFKA_SESSION_TIMEOUT_MS")
    heartbeat_interval_ms: int = Field(1000, ge=100, description="JOURNEYS_KAFKA_HEARTBEAT_INTERVAL_MS")
    request_timeout_ms: int = Field(30000, ge=1000, description="JOURNEYS_KAFKA_REQUEST_TIMEOUT_MS")

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port_list(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port], got {value!r}")
        return value

    def topic(self, department: str) -> str:
        return f"{self.topic_prefix}.{department}"


class WarehouseSettings(BaseSettings):
    """Which warehouse to load into: a DuckDB file or a PostgreSQL database (`JOURNEYS_WAREHOUSE_*`)."""

    model_config = _config("JOURNEYS_WAREHOUSE_")

    url: str = Field(
        "duckdb:///warehouse.duckdb",
        description="JOURNEYS_WAREHOUSE_URL: duckdb:///path/file.duckdb or postgresql://user@host/db",
    )


class LoaderSettings(BaseSettings):
    """How the loader batches records (`JOURNEYS_LOADER_*`)."""

    model_config = _config("JOURNEYS_LOADER_")

    batch_max_records: int = Field(10000, ge=1, description="JOURNEYS_LOADER_BATCH_MAX_RECORDS")
    batch_max_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="JOURNEYS_LOADER_BATCH_MAX_BYTES")
    batch_max_seconds: float = Field(2.0, gt=0, description="JOURNEYS_LOADER_BATCH_MAX_SECONDS")
    max_event_bytes: int = Field(
        1024 * 1024, ge=1024, description="JOURNEYS_LOADER_MAX_EVENT_BYTES: larger is quarantined"
    )
    max_future_seconds: int = Field(
        86400,
        ge=0,
        description="JOURNEYS_LOADER_MAX_FUTURE_SECONDS: occurred_at further ahead is quarantined",
    )
    duckdb_memory_limit: str = Field(
        "128MB", description="JOURNEYS_LOADER_DUCKDB_MEMORY_LIMIT: DuckDB's memory cap while loading"
    )
    idle_seconds: float = Field(
        1.5, gt=0, description="JOURNEYS_LOADER_IDLE_SECONDS: quiet time that means caught up"
    )


class PrivacySettings(BaseSettings):
    """The key for hashing emails and phones (`JOURNEYS_PII_KEY`)."""

    model_config = _config("JOURNEYS_")

    pii_key: SecretStr = Field(
        SecretStr(DEVELOPMENT_PII_KEY), description="JOURNEYS_PII_KEY: secret for the keyed hash"
    )

    @property
    def uses_development_key(self) -> bool:
        return self.pii_key.get_secret_value() == DEVELOPMENT_PII_KEY


class RoleSettings(BaseSettings):
    """Passwords `journeys roles` gives the PostgreSQL roles (`JOURNEYS_ROLES_*`); unset: none is set."""

    model_config = _config("JOURNEYS_ROLES_")

    loader_password: SecretStr | None = Field(None, description="JOURNEYS_ROLES_LOADER_PASSWORD")
    transformer_password: SecretStr | None = Field(None, description="JOURNEYS_ROLES_TRANSFORMER_PASSWORD")
    analyst_password: SecretStr | None = Field(None, description="JOURNEYS_ROLES_ANALYST_PASSWORD")


Severity = Literal["critical", "warning", "info"]


class QualitySettings(BaseSettings):
    """How the Great Expectations gates judge raw and modelled data (`JOURNEYS_QUALITY_*`)."""

    model_config = _config("JOURNEYS_QUALITY_")

    raw_min_rows: int = Field(
        1, ge=0, description="JOURNEYS_QUALITY_RAW_MIN_ROWS: fewer rows in raw.touchpoints fail the raw gate"
    )
    raw_max_rows: int | None = Field(
        None, ge=1, description="JOURNEYS_QUALITY_RAW_MAX_ROWS: more rows fail it (unset: no upper bound)"
    )
    max_quarantine_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="JOURNEYS_QUALITY_MAX_QUARANTINE_SHARE: larger shares of refused records are flagged",
    )
    max_impossible_share: float = Field(
        0.01,
        ge=0,
        le=1,
        description=(
            "JOURNEYS_QUALITY_MAX_IMPOSSIBLE_SHARE: journeys (or tickets) with events in an impossible "
            "order (delivered before placed, ...) fail the marts gate above this share; below it they warn"
        ),
    )
    severity: dict[str, Severity] = Field(
        default_factory=dict,
        description=(
            "JOURNEYS_QUALITY_SEVERITY: JSON object overriding severities, e.g. "
            '{"raw.touchpoints.volume_within_bounds": "warning"}; critical failures stop the run'
        ),
    )
    output_dir: Path | None = Field(
        None,
        description=(
            "JOURNEYS_QUALITY_OUTPUT_DIR: Data Docs (data_docs/) and validation results (validations/) "
            "[default: expectations/uncommitted]"
        ),
    )


class AirflowSettings(BaseSettings):
    """How the Airflow DAGs schedule and bound the pipeline (`JOURNEYS_AIRFLOW_*`), read at parse time."""

    model_config = _config("JOURNEYS_AIRFLOW_")

    ingest_schedule: str = Field(
        "*/5 * * * *",
        description="JOURNEYS_AIRFLOW_INGEST_SCHEDULE: cron expression or preset (@hourly) of journey_ingest",
    )
    ingest_max_seconds: float = Field(
        240.0,
        gt=0,
        description="JOURNEYS_AIRFLOW_INGEST_MAX_SECONDS: each drain commits and stops after this long",
    )
    retries: int = Field(2, ge=0, description="JOURNEYS_AIRFLOW_RETRIES: retries of every task")
    loader_warehouse_url: str | None = Field(
        None,
        description=(
            "JOURNEYS_AIRFLOW_LOADER_WAREHOUSE_URL: the warehouse as journey_ingest writes it, when the "
            "loader has a PostgreSQL role of its own [default: JOURNEYS_WAREHOUSE_URL]"
        ),
    )


class BusinessSettings(BaseSettings):
    """The business's calendar, which every judgement by date uses (`JOURNEYS_BUSINESS_*`)."""

    model_config = _config("JOURNEYS_BUSINESS_")

    timezone: str = Field(
        "UTC",
        description=(
            "JOURNEYS_BUSINESS_TIMEZONE: IANA time zone of the business's calendar, e.g. America/Sao_Paulo; "
            "on time, promise windows, weeks, cohort months and the as-of date use its local dates"
        ),
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone name: use one such as UTC, Europe/London, "
                "America/Sao_Paulo or Asia/Tokyo"
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class ReportSettings(BaseSettings):
    """Where `journeys run` and `journeys report` write the HTML report (`JOURNEYS_REPORT_*`)."""

    model_config = _config("JOURNEYS_REPORT_")

    path: Path = Field(
        Path("reports/journeys.html"),
        description="JOURNEYS_REPORT_PATH: the self-contained HTML report (opens offline in any browser)",
    )


ALL_SETTINGS: tuple[type[BaseSettings], ...] = (
    KafkaSettings,
    WarehouseSettings,
    LoaderSettings,
    PrivacySettings,
    RoleSettings,
    QualitySettings,
    AirflowSettings,
    BusinessSettings,
    ReportSettings,
)


def variable_names() -> dict[str, str]:
    """Every `JOURNEYS_*` variable the settings read, by the settings field's name per class."""
    return {
        f"{cls.__name__}.{field}": f"{cls.model_config.get('env_prefix', '')}{field}".upper()
        for cls in ALL_SETTINGS
        for field in cls.model_fields
    }


def misspelt_variables(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """`JOURNEYS_*` variables that no setting reads but one nearly does: (set, probably meant).

    Unset settings fall back to defaults silently, so a typo in a name (JOURNEYS_WAREHOUSE_URI)
    would otherwise load into the default DuckDB file without a word.
    """
    known = set(variable_names().values())
    found = []
    for name in sorted(environ):
        if name.startswith("JOURNEYS_") and name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.85)
            if close:
                found.append((name, close[0]))
    return found
