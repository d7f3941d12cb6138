"""The suites as code: names, severities, settings, and agreement with the contract and the dbt marts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from expectations import suites
from expectations.errors import QualityError
from expectations.results import ExpectationOutcome, outcome_of
from expectations.suites import (
    all_expectations,
    expectation_name,
    mart_suites,
    raw_suites,
    suites_for,
)
from journeys.errors import describe
from journeys_core.settings import QualitySettings
from streams import contract
from tests.helpers import ROOT


def _severities(settings: QualitySettings) -> dict[str, str]:
    return {expectation_name(e): _severity(e) for _, e in all_expectations(suites_for("raw", settings))}


def _every() -> list[Any]:
    return [e for _, e in all_expectations(raw_suites(QualitySettings()) + mart_suites())]


def _severity(expectation: Any) -> str:
    return str(getattr(expectation.severity, "value", expectation.severity))


def test_the_known_event_types_and_departments_are_the_contracts() -> None:
    assert suites.EVENT_TYPES == contract.EVENT_TYPES
    assert suites.DEPARTMENTS == contract.DEPARTMENTS


def test_every_expectation_has_a_unique_name_under_its_suite_a_reason_and_a_severity() -> None:
    names = []
    for table_suite, expectation in all_expectations(raw_suites(QualitySettings()) + mart_suites()):
        name = expectation_name(expectation)
        assert name.startswith(f"{table_suite.suite.name}."), name
        assert expectation.description, name
        assert _severity(expectation) in ("critical", "warning", "info"), name
        names.append(name)
    assert len(names) == len(set(names))


def test_severities_are_configurable_per_expectation() -> None:
    name = "raw.touchpoints.volume_within_bounds"
    default = {
        expectation_name(e): _severity(e) for _, e in all_expectations(suites_for("raw", QualitySettings()))
    }
    assert default[name] == "critical"
    changed = suites_for("raw", QualitySettings(severity={name: "warning"}))
    assert {expectation_name(e): _severity(e) for _, e in all_expectations(changed)}[name] == "warning"
    # A mart name is known while the raw gate is built, and the other way round.
    suites_for("raw", QualitySettings(severity={"marts.fct_touchpoints.reconciles_with_raw": "warning"}))


def test_a_severity_for_an_expectation_that_does_not_exist_is_an_error() -> None:
    with pytest.raises(QualityError, match=r"raw\.touchpoints\.no_such_rule"):
        suites_for("raw", QualitySettings(severity={"raw.touchpoints.no_such_rule": "warning"}))


def test_quality_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEYS_QUALITY_RAW_MIN_ROWS", "1000")
    monkeypatch.setenv("JOURNEYS_QUALITY_RAW_MAX_ROWS", "5000000")
    monkeypatch.setenv("JOURNEYS_QUALITY_SEVERITY", '{"raw.quarantine.reason_present": "critical"}')
    settings = QualitySettings()
    assert (settings.raw_min_rows, settings.raw_max_rows) == (1000, 5_000_000)
    [volume] = [
        e for e in _bounded(settings) if expectation_name(e) == "raw.touchpoints.volume_within_bounds"
    ]
    assert (volume.min_value, volume.max_value) == (1000, 5_000_000)
    quarantine = {expectation_name(e): _severity(e) for _, e in all_expectations(suites_for("raw", settings))}
    assert quarantine["raw.quarantine.reason_present"] == "critical"


def _bounded(settings: QualitySettings) -> list[Any]:
    return [e for _, e in all_expectations(raw_suites(settings))]


def test_the_default_volume_lower_bound_is_one_row() -> None:
    [volume] = [e for e in _every() if expectation_name(e) == "raw.touchpoints.volume_within_bounds"]
    assert (volume.min_value, volume.max_value) == (1, None)


def test_a_bad_severity_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEYS_QUALITY_SEVERITY", '{"raw.touchpoints.event_id_unique": "fatal"}')
    with pytest.raises(ValidationError) as raised:
        QualitySettings()
    message = describe(raised.value)
    assert message is not None and "JOURNEYS_QUALITY_SEVERITY" in message


def _dbt_marts() -> dict[str, set[str]]:
    models: dict[str, set[str]] = {}
    for path in Path(ROOT, "dbt_project", "models", "marts").rglob("*.yml"):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            models[model["name"]] = {column["name"] for column in model.get("columns", [])}
    return models


def test_every_mart_suite_reads_a_dbt_mart_and_its_documented_columns() -> None:
    models = _dbt_marts()
    for table_suite, expectation in all_expectations(mart_suites()):
        assert table_suite.table in models, f"{table_suite.table} is no model in dbt_project/models/marts"
        column = getattr(expectation, "column", None)
        if column is not None:
            assert column in models[table_suite.table], f"{table_suite.table}.{column} is not documented"


def test_the_accepted_outcomes_are_the_ones_dbt_tests() -> None:
    text = Path(ROOT, "dbt_project", "models", "marts", "journeys", "_journeys__models.yml").read_text()
    [outcome] = [
        column
        for model in yaml.safe_load(text)["models"]
        if model["name"] == "fct_order_journeys"
        for column in model["columns"]
        if column["name"] == "outcome"
    ]
    [accepted] = [test["accepted_values"]["arguments"]["values"] for test in outcome["data_tests"]]
    assert tuple(accepted) == suites.OUTCOMES


class _Config:
    def __init__(self, kind: str, meta: dict[str, str], kwargs: dict[str, Any], severity: str) -> None:
        self.type, self.meta, self.kwargs, self.severity = kind, meta, kwargs, severity
        self.description = "why"


class _Validation:
    def __init__(self, config: _Config, success: bool, result: dict[str, Any], exception: Any = None) -> None:
        self.expectation_config, self.success, self.result = config, success, result
        self.exception_info = exception or {}


def test_outcomes_read_counts_and_examples_from_each_kind_of_result() -> None:
    column = outcome_of(
        "raw.touchpoints",
        _Validation(
            _Config(
                "expect_column_values_to_be_in_set", {"name": "n1"}, {"column": "event_type"}, "critical"
            ),
            False,
            {
                "element_count": 30,
                "unexpected_count": 10,
                "partial_unexpected_list": ["shipping.x", "shipping.x", "sales.y"],
            },
        ),
    )
    assert (column.unexpected_count, column.element_count, column.column) == (10, 30, "event_type")
    assert column.examples == ("shipping.x", "sales.y")
    rows = outcome_of(
        "raw.touchpoints",
        _Validation(
            _Config("unexpected_rows_with_examples", {"name": "n2"}, {}, "warning"),
            False,
            {"observed_value": 2, "details": {"unexpected_rows": [{"event_id": "e1"}, {"event_id": "e2"}]}},
        ),
    )
    assert (rows.unexpected_count, rows.severity, rows.critical) == (2, "warning", False)
    assert rows.examples_json() == '[{"event_id": "e1"}, {"event_id": "e2"}]'
    broken = outcome_of(
        "raw.touchpoints",
        _Validation(
            _Config("expect_table_row_count_to_be_between", {"name": "n3"}, {}, "critical"),
            False,
            {},
            {"metric": {"raised_exception": True, "exception_message": "no such table"}},
        ),
    )
    assert broken.exception == "no such table"
    assert isinstance(broken, ExpectationOutcome)
