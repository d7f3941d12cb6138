"""The transform stage: `dbt build` of dbt_project/ against the configured warehouse, summarised.

dbt runs in this process through its programmatic entry point (dbtRunner). The connection comes
from JOURNEYS_WAREHOUSE_URL, turned into the environment variables dbt_project/profiles.yml reads;
the PII key reaches the warehouse session without ever appearing in SQL text.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from journeys_core.settings import BusinessSettings, PrivacySettings, WarehouseSettings
from journeys_core.warehouse import (
    WarehouseUrl,
    connect_duckdb,
    connect_postgres,
    parse_url,
    read_queries,
)

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"

Command = Literal["build", "run", "test", "parse", "docs generate"]


class TransformError(Exception):
    """dbt cannot run or stopped before building anything; the message says what to fix."""


class TransformInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped dbt; a KeyboardInterrupt still, so callers stop as they would on Ctrl-C."""


# dbt builds each model in a transaction, and each incremental model takes every row staged after
# its own last build: an interrupted build keeps what it finished and the next one completes it.
INTERRUPTED = (
    "the models dbt finished are kept and the one it was building was rolled back; the next "
    "`journeys transform` builds the rest"
)
# A check in an on-run-start hook refused the run: dbt wraps its sentence in where it came from.
_HOOK_REFUSAL = re.compile(r"Compilation Error in operation \S+ \([^)]*\) (.*?)(?: > in macro |$)")
# An incremental model whose columns changed since it was built (a new version of the project).
SCHEMA_ADVICE = (
    "this model's columns changed since it was last built (a newer version of Journeys): run "
    "`journeys transform --full-refresh` once to rebuild the marts with them"
)
# Objects another role re-owned (a build as an admin after `journeys roles`) refuse `create or replace`.
OWNER_ADVICE = (
    "another role owns this object (built as an admin after `journeys roles`?): run `journeys roles` "
    "as an admin to hand the objects back to their schema's owner"
)


@dataclass(frozen=True)
class NodeFailure:
    """One model, test or hook that failed, in words a person can act on."""

    node: str  # e.g. "model fct_touchpoints", "test unique_fct_tickets_ticket_id"
    status: str  # error, fail, warn
    message: str
    explanation: str = ""  # the node's description: what a failing test means


@dataclass(frozen=True)
class TransformSummary:
    """What one dbt invocation did."""

    command: str
    target: str
    success: bool
    models: int = 0  # models built
    tests_passed: int = 0  # data tests and unit tests
    tests_failed: int = 0
    tests_warned: int = 0
    errors: int = 0  # models, hooks or tests that could not run
    skipped: int = 0
    elapsed: float = 0.0
    failures: tuple[NodeFailure, ...] = ()
    warnings: tuple[NodeFailure, ...] = ()
    log_path: Path | None = None
    model_seconds: dict[str, float] = field(default_factory=dict)

    def headline(self) -> str:
        verdict = "succeeded" if self.success else "FAILED"
        return (
            f"dbt {self.command} on {self.target} {verdict}: {self.models} models built, "
            f"{self.tests_passed} tests passed, {self.tests_failed} failed, {self.tests_warned} warned, "
            f"{self.errors} errors, {self.skipped} skipped in {self.elapsed:.1f} s"
        )


def dbt_environment(
    target: WarehouseUrl, privacy: PrivacySettings, business: BusinessSettings
) -> dict[str, str]:
    """The environment dbt_project/profiles.yml and dbt_project.yml read, for one warehouse URL."""
    key = privacy.pii_key.get_secret_value()
    # Passed on even when it came from .env, which dbt does not read.
    env = {"JOURNEYS_PII_KEY": key, "JOURNEYS_BUSINESS_TIMEZONE": business.timezone}
    if target.kind == "duckdb":
        assert target.path is not None
        env["JOURNEYS_DBT_TARGET"] = "duckdb"
        env["JOURNEYS_DBT_DUCKDB_PATH"] = str(target.path.resolve())
        return env
    parts = urlsplit(target.conninfo)
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    env.update(
        {
            "JOURNEYS_DBT_TARGET": "postgres",
            "JOURNEYS_DBT_PG_HOST": parts.hostname or query.get("host", "127.0.0.1"),
            "JOURNEYS_DBT_PG_PORT": str(parts.port or query.get("port", 5432)),
            "JOURNEYS_DBT_PG_USER": unquote(parts.username or query.get("user", "postgres")),
            "JOURNEYS_DBT_PG_DBNAME": unquote(parts.path.lstrip("/")) or query.get("dbname", "postgres"),
            "JOURNEYS_DBT_PG_SSLMODE": query.get("sslmode", "prefer"),
            "DBT_ENV_SECRET_JOURNEYS_PG_PASSWORD": unquote(parts.password or query.get("password", "")),
        }
    )
    # libpq passes this to the server: a session setting only dbt's sessions can read.
    setting = "-c journeys.pii_key=" + key.replace("\\", "\\\\").replace(" ", "\\ ")
    env["PGOPTIONS"] = " ".join(filter(None, (os.environ.get("PGOPTIONS", ""), setting)))
    return env


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_warehouse(target: WarehouseUrl, privacy: PrivacySettings) -> None:
    """Fail early, in one sentence, on what dbt would only report as a stack of errors."""
    if target.kind == "postgresql" and privacy.uses_development_key:
        raise TransformError(
            "JOURNEYS_PII_KEY is not set (the development key is for local DuckDB files only): set "
            "JOURNEYS_PII_KEY to a secret of your own before transforming into PostgreSQL"
        )
    if target.kind == "duckdb":
        assert target.path is not None
        if not target.path.exists():
            raise TransformError(
                f"the DuckDB warehouse {target.path} does not exist: load events first with "
                "`journeys ingest` (or point JOURNEYS_WAREHOUSE_URL at your warehouse)"
            )
        with connect_duckdb(target, read_only=True) as con:
            found = con.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = 'raw' and table_name = 'touchpoints'"
            ).fetchone()
        if not found or not found[0]:
            raise TransformError(
                f"the DuckDB warehouse {target.path} has no raw.touchpoints: load events first with "
                "`journeys ingest`"
            )
        return
    with connect_postgres(target, autocommit=True) as con:
        row = con.execute("select to_regclass('raw.touchpoints') is not null").fetchone()
    if not row or not row[0]:
        raise TransformError(
            f"PostgreSQL at {target.redacted()} has no raw.touchpoints: load events first with "
            "`journeys ingest`"
        )


def check_business_timezone(url: str, business: BusinessSettings, *, full_refresh: bool = False) -> None:
    """Refuse, in one sentence, to mix two calendars: marts judged in one zone, a build in another.

    dbt checks the same on every run (macro journeys_check_business_timezone); checked here first,
    `journeys run` refuses before it publishes anything, and the sentence is not wrapped in dbt's.
    """
    if full_refresh:
        return
    rows = read_queries(url, {"built": "select * from marts.fct_order_journeys limit 1"}, missing_ok=True)
    built = rows["built"][0].get("business_timezone", business.timezone) if rows["built"] else None
    if built is not None and built != business.timezone:
        raise TransformError(
            f"JOURNEYS_BUSINESS_TIMEZONE is {business.timezone} but the marts were built in {built}: "
            f"set JOURNEYS_BUSINESS_TIMEZONE={built} again, or run `journeys transform --full-refresh` "
            f"to judge every date again in {business.timezone}"
        )


def dbt_arguments(
    command: Command,
    *,
    target: str,
    full_refresh: bool = False,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    unit_tests: bool = False,
    variables: Mapping[str, Any] | None = None,
    target_path: Path | None = None,
    log_path: Path | None = None,
    project_dir: Path = DBT_PROJECT_DIR,
) -> list[str]:
    args = [
        *command.split(),
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target",
        target,
        "--log-level",
        "none",  # the summary says what matters; everything is in the log file
        "--log-level-file",
        "debug",
    ]
    if target_path is not None:
        args += ["--target-path", str(target_path)]
    if log_path is not None:
        args += ["--log-path", str(log_path)]
    if variables:
        args += ["--vars", json.dumps(dict(variables))]
    if full_refresh and command in ("build", "run"):
        args.append("--full-refresh")
    for selector in select:
        args += ["--select", selector]
    for selector in exclude:
        args += ["--exclude", selector]
    if not unit_tests and command in ("build", "test"):
        # dbt's advice: unit tests check the SQL, not the data; CI runs them (`--unit-tests`).
        args += ["--exclude-resource-type", "unit_test"]
    return args


def transform(
    warehouse: WarehouseSettings,
    privacy: PrivacySettings,
    *,
    command: Command = "build",
    full_refresh: bool = False,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    unit_tests: bool = False,
    as_of: dt.date | None = None,
    variables: Mapping[str, Any] | None = None,
    target_path: Path | None = None,
    log_path: Path | None = None,
    project_dir: Path = DBT_PROJECT_DIR,
    business: BusinessSettings | None = None,
) -> TransformSummary:
    """Run dbt (`build` by default) against JOURNEYS_WAREHOUSE_URL and summarise what happened.

    `as_of` is the day journey outcomes are judged at (default: today on the business's calendar,
    JOURNEYS_BUSINESS_TIMEZONE). `unit_tests` adds
    dbt's unit tests (logic on fixed rows, for CI) to the data tests that always run. Failing
    models or tests come back in the summary; problems a person must fix first raise
    TransformError.
    """
    from dbt.cli.main import dbtRunner  # imported late: it takes a second and most commands never need it

    target = parse_url(warehouse.url)
    check_warehouse(target, privacy)
    business = business or BusinessSettings()
    if command in ("build", "run"):
        check_business_timezone(warehouse.url, business, full_refresh=full_refresh)
    profile_target = "duckdb" if target.kind == "duckdb" else "postgres"
    merged = dict(variables or {})
    if as_of is not None:
        merged["journeys__as_of"] = as_of.isoformat()
    log_dir = log_path or project_dir / "logs"
    args = dbt_arguments(
        command,
        target=profile_target,
        full_refresh=full_refresh,
        select=select,
        exclude=exclude,
        unit_tests=unit_tests,
        variables=merged,
        target_path=target_path,
        log_path=log_dir,
        project_dir=project_dir,
    )
    environment = dbt_environment(target, privacy, business)
    if target.kind == "duckdb":
        # One open file for the whole build, released below: no checkpoint and reopen per model.
        environment["JOURNEYS_DBT_DUCKDB_KEEP_OPEN"] = "True"
    started = time.monotonic()
    with _environment(environment):
        try:
            outcome = dbtRunner().invoke(args)
        finally:
            if target.kind == "duckdb":
                _release_duckdb()
    summary = summarise(
        command,
        profile_target,
        outcome.success,
        outcome.result,
        outcome.exception,
        elapsed=time.monotonic() - started,
        log_path=log_dir / "dbt.log",
    )
    ran = summary.models + summary.tests_passed + summary.tests_failed + summary.tests_warned + summary.errors
    if select and command in ("build", "run", "test") and ran + summary.skipped == 0:
        # dbt only warns when a selection matches nothing; a typo must not look like a build.
        raise TransformError(
            f"nothing in the dbt project matches --select {' '.join(select)}: name models as in "
            "dbt_project/models, e.g. fct_order_journeys (or fct_order_journeys+ for it and what "
            "depends on it)"
        )
    return summary


def _release_duckdb() -> None:
    """Close the DuckDB file dbt-duckdb keeps open (keep_open), so this process and others can open it."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    environment = getattr(DuckDBConnectionManager, "_ENV", None)  # one per process, shared by all threads
    if environment is not None:
        environment.close()
    DuckDBConnectionManager.close_all_connections()  # type: ignore[no-untyped-call]  # unannotated in dbt-duckdb


def summarise(
    command: str,
    target: str,
    success: bool,
    result: Any,
    exception: BaseException | None,
    *,
    elapsed: float,
    log_path: Path | None = None,
) -> TransformSummary:
    """Count what a dbtRunner result contains; turn run-level exceptions into TransformError."""
    if isinstance(exception, KeyboardInterrupt):  # dbtRunner returns Ctrl-C as a result, not raised
        raise TransformInterrupted(INTERRUPTED) from exception
    results = getattr(result, "results", None)
    if results is None:
        if exception is not None or not success:
            raise TransformError(_explain_exception(exception, log_path))
        return TransformSummary(command, target, success, elapsed=elapsed, log_path=log_path)
    counts = {"models": 0, "passed": 0, "failed": 0, "warned": 0, "errors": 0, "skipped": 0}
    failures: list[NodeFailure] = []
    warnings: list[NodeFailure] = []
    model_seconds: dict[str, float] = {}
    for item in results:
        node = item.node
        kind = str(node.resource_type)
        status = str(item.status)
        label = f"{'unit test' if kind == 'unit_test' else kind} {node.name}"
        if kind == "model":
            model_seconds[node.name] = float(item.execution_time or 0.0)
        if status == "success" and kind == "model":
            counts["models"] += 1
        elif status == "pass":
            counts["passed"] += 1
        elif status == "fail":
            counts["failed"] += 1
            failures.append(_failure(label, status, item))
        elif status == "warn":
            counts["warned"] += 1
            warnings.append(_failure(label, status, item))
        elif status == "error":
            counts["errors"] += 1
            failures.append(_failure(label, status, item))
        elif status == "skipped":
            counts["skipped"] += 1
    if exception is not None and not failures:
        raise TransformError(_explain_exception(exception, log_path))
    return TransformSummary(
        command=command,
        target=target,
        success=success,
        models=counts["models"],
        tests_passed=counts["passed"],
        tests_failed=counts["failed"],
        tests_warned=counts["warned"],
        errors=counts["errors"],
        skipped=counts["skipped"],
        elapsed=elapsed,
        failures=tuple(failures),
        warnings=tuple(warnings),
        log_path=log_path,
        model_seconds=model_seconds,
    )


def _failure(label: str, status: str, item: Any) -> NodeFailure:
    message = " ".join(str(item.message or "").split())
    failing_rows = getattr(item, "failures", None)
    if status in ("fail", "warn") and failing_rows:
        message = f"{failing_rows} failing rows" + (f" ({message})" if message else "")
    if "must be owner of" in message:
        message = f"{message[:400]}: {OWNER_ADVICE}"
    elif "schemas on this incremental model are out of sync" in message:
        message = SCHEMA_ADVICE
    description = " ".join(str(getattr(item.node, "description", "") or "").split())
    return NodeFailure(label, status, message[:600], description[:400])


def _explain_exception(exception: BaseException | None, log_path: Path | None) -> str:
    text = " ".join(str(exception or "dbt failed without a message").split())
    where = f" (details in {log_path})" if log_path else ""
    refused = _HOOK_REFUSAL.search(text)
    if refused:  # a check of this project's (a hook's raise_compiler_error): its sentence alone
        return refused.group(1).strip()
    if "could not connect" in text.lower() or "connection refused" in text.lower():
        return f"dbt cannot reach the warehouse: {text[:300]}{where}"
    if "must be owner of" in text:
        return f"dbt stopped: {text[:300]}: {OWNER_ADVICE}{where}"
    if "lock" in text.lower() and "duckdb" in text.lower():
        return (
            "the DuckDB warehouse is in use by another process (DuckDB allows one writer): wait for "
            f"it to finish or stop it{where}"
        )
    return f"dbt stopped before building: {text[:400]}{where}"
