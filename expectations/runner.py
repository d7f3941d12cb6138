"""Runs one gate: an ephemeral GX context over the warehouse and one checkpoint with two actions.

The checkpoint validates each table of the stage against its suite, then its actions write
the results to the warehouse (quality.expectation_results) and build Data Docs as HTML. DuckDB
is read through `expectations.duckdb_eager`, read-only, and every connection is closed before
the results are written and before the gate returns, so the file is free for the loader and dbt.
"""

from __future__ import annotations

import datetime as dt
import uuid
import warnings
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

import great_expectations as gx
from great_expectations.checkpoint.actions import UpdateDataDocsAction, ValidationAction
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

from expectations import duckdb_eager, store
from expectations.errors import QualityError
from expectations.results import EXAMPLES, CheckResult, Stage, outcomes_of
from expectations.suites import DEFAULT_SCHEMAS, Schemas, TableSuite, expectation_name, suites_for
from journeys_core.settings import QualitySettings
from journeys_core.warehouse import WarehouseUrl, connect_duckdb, connect_postgres, parse_url

DEFAULT_OUTPUT_DIR = Path(__file__).resolve().parent / "uncommitted"
DOCS_SITE = "journeys"

_NEXT_STEP: dict[Stage, str] = {
    "raw": "load events first with `journeys ingest`",
    "marts": "build the marts first with `journeys transform`",
}


class DataDocsOnceAction(UpdateDataDocsAction):
    """Checkpoint action: Data Docs for every suite of the run, built in one pass.

    GX's UpdateDataDocsAction rebuilds the site (index included) once per validated table, and
    rendering dominates a gate's run time; one build for all the run's pages gives the same site.
    """

    type: Literal["journeys_data_docs"] = "journeys_data_docs"  # type: ignore[assignment]

    def run(self, checkpoint_result: Any, action_context: Any = None) -> dict[Any, Any]:
        identifiers: list[Any] = []
        for identifier, suite_result in checkpoint_result.run_results.items():
            identifiers += [identifier, ExpectationSuiteIdentifier(name=suite_result.suite_name)]
        return dict(self._build_data_docs(site_names=self.site_names, resource_identifiers=identifiers))


class WarehouseResultsAction(ValidationAction):
    """Checkpoint action: one row per expectation into quality.expectation_results."""

    type: Literal["journeys_warehouse_results"] = "journeys_warehouse_results"
    stage: str
    warehouse_url: str

    def run(self, checkpoint_result: Any, action_context: Any = None) -> dict[str, Any]:
        # GX's own read-only DuckDB connections must be closed before this process may write.
        context = self._data_context
        if context is not None:
            for datasource in context.data_sources.all().values():
                release(datasource)
        run_id = checkpoint_result.run_id
        written = store.write(
            parse_url(self.warehouse_url),
            str(run_id.run_name),
            self.stage,
            run_id.run_time,
            list(outcomes_of(checkpoint_result)),
        )
        return {"table": store.TABLE, "rows": written}


def sqlalchemy_url(target: WarehouseUrl) -> str:
    """The URL GX's SQL data source gets: eager DuckDB cursors, or psycopg 3 for PostgreSQL."""
    if target.kind == "duckdb":
        assert target.path is not None
        return f"{duckdb_eager.URL_SCHEME}:///{target.path.resolve()}"
    return target.conninfo.replace("postgresql://", "postgresql+psycopg://", 1)


def engine_kwargs(target: WarehouseUrl) -> dict[str, Any]:
    """DuckDB read-only: it allows one writing process, and the loader or dbt may want it next.

    Pooled (opening the file costs ~0.1 s per connection); `release` closes the pool.
    """
    assert target.kind == "duckdb"
    return {"connect_args": {"read_only": True}}


def missing_tables(target: WarehouseUrl, wanted: Collection[tuple[str, str]]) -> list[str]:
    """The `schema.table` names of `wanted` the warehouse does not have."""
    sql = "select table_schema, table_name from information_schema.tables"
    if target.kind == "duckdb":
        assert target.path is not None
        if not target.path.exists():
            return [f"{schema}.{table}" for schema, table in wanted]
        with connect_duckdb(target, read_only=True) as con:
            found = {(str(s), str(t)) for s, t in con.execute(sql).fetchall()}
    else:
        with connect_postgres(target, autocommit=True) as pg:
            found = {(str(s), str(t)) for s, t in pg.execute(sql).fetchall()}
    return [f"{schema}.{table}" for schema, table in wanted if (schema, table) not in found]


def _require_writable(output_dir: Path) -> None:
    """Checked before validating: GX would fail after the work, with a page of traceback."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / ".journeys-write-check"
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise QualityError(
            f"cannot write the gates' results to {output_dir} ({error.strerror or error}): set "
            "JOURNEYS_QUALITY_OUTPUT_DIR to a writable folder"
        ) from error


def _context(output_dir: Path | None) -> Any:
    """An ephemeral context; with an output folder, Data Docs and validation results go there."""
    defaults = InMemoryStoreBackendDefaults(init_temp_docs_sites=False)
    sites: dict[str, Any] = {}
    if output_dir is not None:
        sites[DOCS_SITE] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(output_dir / "data_docs"),
            },
            # The index lists the latest runs' results, not every result ever kept.
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "validation_results_limit": 100},
        }
        # On disk, so the Data Docs index lists earlier runs of both gates, not just this one.
        defaults.stores[defaults.validation_results_store_name] = {
            "class_name": "ValidationResultsStore",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(output_dir / "validations"),
            },
        }
    config = DataContextConfig(
        store_backend_defaults=defaults,
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def release(datasource: Any) -> None:
    """Close every connection GX's engines hold (DuckDB: nothing may keep the file open)."""
    for engine in (datasource.get_execution_engine().engine, datasource.get_engine()):
        engine.dispose()


def run_checks(
    stage: Stage,
    warehouse_url: str,
    *,
    settings: QualitySettings | None = None,
    max_future_seconds: int = 86400,
    schemas: Schemas = DEFAULT_SCHEMAS,
    only: Collection[str] | None = None,
    store_results: bool = True,
    build_docs: bool = True,
    now: dt.datetime | None = None,
) -> CheckResult:
    """Validate every table of `stage` and return one outcome per expectation.

    `only` limits the run to the named expectations (tests use it); `store_results` and
    `build_docs` switch the two checkpoint actions. Raises QualityError when the tables are not
    there yet, since there is nothing to judge.
    """
    settings = settings or QualitySettings()
    target = parse_url(warehouse_url)
    table_suites = suites_for(
        stage, settings, schemas=schemas, max_future_seconds=max_future_seconds, now=now
    )
    if only is not None:
        table_suites = _only(table_suites, set(only))
    missing = missing_tables(target, [(ts.schema, ts.table) for ts in table_suites])
    if missing:
        raise QualityError(
            f"{', '.join(missing)} not found in {target.redacted()}: {_NEXT_STEP[stage]}, "
            f"then run `journeys check {stage}`"
        )
    run_time = now or dt.datetime.now(dt.UTC)
    run_id = f"{stage}-{run_time:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    output_dir = (settings.output_dir or DEFAULT_OUTPUT_DIR).resolve() if build_docs else None
    if output_dir is not None:
        _require_writable(output_dir)
    context = _context(output_dir)
    if target.kind == "duckdb":
        datasource = context.data_sources.add_sql(
            name="warehouse", connection_string=sqlalchemy_url(target), kwargs=engine_kwargs(target)
        )
    else:
        datasource = context.data_sources.add_postgres(
            name="warehouse", connection_string=sqlalchemy_url(target)
        )
    try:
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"journeys_{stage}",
                validation_definitions=[_definition(context, datasource, ts) for ts in table_suites],
                actions=_actions(stage, target, build_docs=build_docs, store_results=store_results),
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES},
            )
        )
        outcome = checkpoint.run(run_id=RunIdentifier(run_name=run_id, run_time=run_time))
    finally:
        release(datasource)
    return CheckResult(
        stage=stage,
        run_id=run_id,
        run_time=run_time,
        outcomes=tuple(outcomes_of(outcome)),
        data_docs=output_dir / "data_docs" / "index.html" if output_dir is not None else None,
        stored=store_results,
    )


def _only(table_suites: list[TableSuite], names: set[str]) -> list[TableSuite]:
    chosen = []
    for ts in table_suites:
        kept = [e for e in ts.expectations if expectation_name(e) in names]
        if kept:
            suite = gx.ExpectationSuite(ts.suite.name, kept)
            chosen.append(TableSuite(ts.stage, ts.schema, ts.table, suite))
    unknown = names - {expectation_name(e) for ts in chosen for e in ts.expectations}
    if unknown:
        raise QualityError(f"no expectation named {', '.join(sorted(unknown))} in this gate")
    return chosen


def _definition(context: Any, datasource: Any, table_suite: TableSuite) -> Any:
    with warnings.catch_warnings():
        # GX would rather have the schema in the connection; one gate reads several schemas.
        warnings.filterwarnings("ignore", message="`schema_name` is deprecated", category=DeprecationWarning)
        asset = datasource.add_table_asset(
            name=f"{table_suite.schema}.{table_suite.table}",
            table_name=table_suite.table,
            schema_name=table_suite.schema,
        )
    batch = asset.add_batch_definition_whole_table("whole table")
    suite = context.suites.add(table_suite.suite)
    return context.validation_definitions.add(
        gx.ValidationDefinition(name=table_suite.suite.name, data=batch, suite=suite)
    )


def _actions(stage: Stage, target: WarehouseUrl, *, build_docs: bool, store_results: bool) -> list[Any]:
    actions: list[Any] = []
    if build_docs:
        actions.append(DataDocsOnceAction(name="data_docs", site_names=[DOCS_SITE]))
    if store_results:
        actions.append(
            WarehouseResultsAction(name="warehouse_results", stage=stage, warehouse_url=target.url)
        )
    return actions
