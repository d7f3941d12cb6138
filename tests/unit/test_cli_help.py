"""What people read from the CLI: every --help, and text from dbt, errors or data printed as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from journeys import cli
from journeys.insights import Insights
from journeys.summary import at_risk_table
from journeys.transform import NodeFailure, TransformSummary
from journeys_core.settings import QualitySettings

runner = CliRunner()


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
    return found


COMMANDS = _commands(typer.main.get_command(cli.app))  # type: ignore[arg-type]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_help_renders_without_losing_text(command: tuple[str, ...]) -> None:
    result = runner.invoke(cli.app, [*command, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    # Rich markup used to swallow "[default: ...]" inside help texts, leaving " ." behind.
    assert not re.search(r" \.(\s|$)", result.output)


@pytest.mark.parametrize(
    ("command", "default"),
    [
        (("run",), "JOURNEYS_WAREHOUSE_URL"),
        (("run",), "JOURNEYS_REPORT_PATH"),
        (("report",), "JOURNEYS_REPORT_PATH"),
        (("transform",), "today in JOURNEYS_BUSINESS_TIMEZONE"),
        (("simulate",), "DAYS ago"),
        (("broker",), "JOURNEYS_KAFKA_PARTITIONS"),
    ],
)
def test_help_names_the_default_of_options_read_from_settings(command: tuple[str, ...], default: str) -> None:
    result = runner.invoke(cli.app, [*command, "--help"], env={"COLUMNS": "200"})
    assert f"[default: ({default})]" in result.output


def test_help_paragraphs_flow_to_the_terminal_width() -> None:
    result = runner.invoke(cli.app, ["transform", "--help"], env={"COLUMNS": "200"})
    # The docstring breaks lines at 100 columns; the help text must not keep those breaks.
    assert "incremental models rebuild every journey and customer" in result.output


def test_dbt_failures_are_printed_as_dbt_wrote_them(monkeypatch: pytest.MonkeyPatch) -> None:
    failure = NodeFailure(
        node="test unique_fct_tickets_ticket_id",
        status="fail",
        message="Binder Error: column [bold] not found [/]",
        explanation="ticket_id is unique [per ticket]",
    )
    summary = TransformSummary(
        command="build",
        target="duckdb",
        success=False,
        tests_failed=1,
        failures=(failure,),
        log_path=Path("/tmp/logs[1]/dbt.log"),
    )

    def fake_transform(*args: Any, **kwargs: Any) -> TransformSummary:
        return summary

    monkeypatch.setattr(cli, "run_dbt", fake_transform)
    result = runner.invoke(cli.app, ["transform"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    printed = " ".join(result.output.split())  # the console may wrap long lines
    assert "Binder Error: column [bold] not found [/]" in printed
    assert "ticket_id is unique [per ticket]" in printed
    assert "/tmp/logs[1]/dbt.log" in printed


def test_customer_keys_from_the_data_are_never_read_as_markup() -> None:
    insights = Insights(
        rows={
            "customers": [{"customers": 2, "at_risk": 2}],
            "at_risk": [
                {
                    "customer_key": "CUS-[/]",
                    "health_score": 20,
                    "last_journey_outcome": "lost",
                    "open_tickets": 1,
                },
                {
                    "customer_key": "[red]x",
                    "health_score": 25,
                    "last_journey_outcome": "lost",
                    "open_tickets": 0,
                },
            ],
        }
    )
    console = Console(width=120, record=True)
    console.print(at_risk_table(insights))  # "[/]" as markup would raise: nothing to close
    printed = console.export_text()
    assert "CUS-[/]" in printed
    assert "[red]x" in printed


@pytest.mark.parametrize("stage", ["raw", "marts"])
def test_expectation_names_are_listed_whole_on_a_narrow_terminal(stage: str) -> None:
    from expectations.suites import all_expectations, expectation_name, suites_for

    console = Console(width=60, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(cli.expectations_listing(stage, QualitySettings()), crop=False)  # type: ignore[arg-type]
    lines = console.export_text().splitlines()
    names = [expectation_name(e) for _, e in all_expectations(suites_for(stage, QualitySettings()))]  # type: ignore[arg-type]
    assert all(any(line.startswith(f"{name}  ") for line in lines) for name in names)
