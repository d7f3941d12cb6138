"""The Airflow commands docker-compose.yml runs are ones Airflow 3.3's own command line accepts."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT

SERVICES: dict[str, dict[str, Any]] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
# Built from the Dockerfile and not re-pointed at `journeys`: the image's entrypoint runs airflow.
AIRFLOW = sorted(name for name, s in SERVICES.items() if "build" in s and "entrypoint" not in s)


def airflow_words(service: dict[str, Any]) -> list[list[str]]:
    """The service's command and any `airflow ...` healthcheck, as argument lists."""
    found = [[str(arg) for arg in service["command"]]]
    test = service.get("healthcheck", {}).get("test", [])
    words = shlex.split(test[1]) if test[:1] == ["CMD-SHELL"] else test[1:]
    if words[:1] == ["airflow"]:
        found.append(words[1:])
    return found


@pytest.mark.parametrize("service", AIRFLOW)
def test_airflow_commands_parse(airflow_db: Path, service: str) -> None:
    from airflow.cli.cli_parser import get_parser

    parser = get_parser()
    for args in airflow_words(SERVICES[service]):
        parsed = parser.parse_args(args)  # exits (SystemExit) on an unknown command or option
        assert callable(parsed.func), f"{service}: airflow {' '.join(args)}"


def test_every_airflow_component_runs() -> None:
    commands = {str(SERVICES[name]["command"][0]) for name in AIRFLOW}
    assert commands == {"db", "api-server", "scheduler", "dag-processor", "triggerer"}
