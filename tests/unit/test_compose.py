"""docker-compose.yml and the Dockerfile say only true things (no Docker engine runs here to try them).

Images are pinned, every command is one the `journeys` command line accepts (Airflow's commands
are checked against Airflow's own parser in tests/airflow/), every JOURNEYS_* variable is one the
settings objects read, long-running services have healthchecks, and no two share a host port.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from typing import Any

import pytest
import typer
import yaml
from pydantic_settings import BaseSettings

from journeys.cli import app
from journeys_core import settings as settings_module
from tests.helpers import ROOT

COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
INTERPOLATED = re.compile(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)(?::?[-?][^}]*)?\}")


def built_here(service: dict[str, Any]) -> bool:
    return "build" in service


def one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart") == "no"


def journeys_services() -> dict[str, list[str]]:
    return {
        name: [str(arg) for arg in service["command"]]
        for name, service in SERVICES.items()
        if service.get("entrypoint") == ["journeys"]
    }


def settings_variables() -> set[str]:
    """Every environment variable a settings class in journeys_core/settings.py reads."""
    names = set()
    for _, cls in inspect.getmembers(settings_module, inspect.isclass):
        if issubclass(cls, BaseSettings) and cls is not BaseSettings:
            prefix = cls.model_config.get("env_prefix", "")
            names |= {f"{prefix}{field}".upper() for field in cls.model_fields}
    return names


def test_every_image_is_pinned_to_a_version() -> None:
    for name, service in SERVICES.items():
        if built_here(service):
            assert service["build"]["dockerfile"] == "Dockerfile", name
            continue
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: {image} is not pinned"
        assert re.search(r"\d+\.\d+", tag), f"{name}: {image} names no version"


def test_the_dockerfile_builds_on_the_airflow_this_project_pins() -> None:
    (base,) = re.findall(r"^FROM\s+(\S+)", DOCKERFILE, flags=re.MULTILINE)
    assert base.startswith("apache/airflow:") and "latest" not in base
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (pin,) = [
        dep for dep in pyproject["project"]["optional-dependencies"]["airflow"] if "apache-airflow" in dep
    ]
    airflow_version = pin.split("==")[1]
    assert base == f"apache/airflow:{airflow_version}-python3.11"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".venv" in ignored, "secrets and the virtualenv stay out of the image"


@pytest.mark.parametrize("service", sorted(journeys_services()))
def test_journeys_commands_are_ones_the_command_line_accepts(service: str) -> None:
    args = journeys_services()[service]
    group: Any = typer.main.get_command(app)
    context = group.make_context("journeys", list(args), resilient_parsing=True)
    command = group.get_command(context, args[0])
    assert command is not None, f"{service}: `journeys {args[0]}` is not a command"
    command.make_context(args[0], args[1:], parent=context)  # raises on an unknown option or value


def test_services_built_here_run_journeys_or_airflow() -> None:
    for name, service in SERVICES.items():
        if built_here(service) and service.get("entrypoint") != ["journeys"]:
            # The Airflow image's entrypoint runs `airflow <command>`.
            assert "entrypoint" not in service, name
            assert service["command"], name
    assert journeys_services()["loader"] == ["ingest", "--follow"]
    assert journeys_services()["warehouse-init"] == ["roles"]


def environments() -> dict[str, dict[str, str]]:
    return {
        name: {k: str(v) for k, v in service.get("environment", {}).items()}
        for name, service in SERVICES.items()
    }


def test_every_journeys_variable_is_one_the_settings_read() -> None:
    known = settings_variables()
    for name, environment in environments().items():
        unknown = {var for var in environment if var.startswith("JOURNEYS_")} - known
        assert not unknown, f"{name} sets variables nothing reads: {unknown}"
    in_dockerfile = set(re.findall(r"\b(JOURNEYS_[A-Z_]+)=", DOCKERFILE))
    assert in_dockerfile and in_dockerfile <= known


def test_every_interpolated_variable_is_documented_in_env_example() -> None:
    documented = set(
        re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.MULTILINE)
    )
    used = set(INTERPOLATED.findall((ROOT / "docker-compose.yml").read_text()))
    assert used, "secrets come from .env"
    assert used <= documented, f"set in docker-compose.yml but not in .env.example: {used - documented}"


def test_long_running_services_have_healthchecks_and_dependencies_wait_for_them() -> None:
    for name, service in SERVICES.items():
        if not one_shot(service):
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dependency, how in service.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            wanted = "service_completed_successfully" if one_shot(SERVICES[dependency]) else "service_healthy"
            assert how["condition"] == wanted, f"{name} -> {dependency}"


def test_postgres_is_healthy_only_once_it_answers_over_tcp() -> None:
    # The image's first-start setup server answers on the socket before the database exists.
    check = SERVICES["postgres"]["healthcheck"]["test"]
    assert check[check.index("--host") + 1] == "127.0.0.1"


def test_host_ports_are_distinct_and_local() -> None:
    seen: dict[str, str] = {}
    for name, service in SERVICES.items():
        for mapping in service.get("ports", []):
            host_ip, host_port, _ = str(mapping).split(":")
            assert host_ip == "127.0.0.1", f"{name} publishes {mapping} beyond this machine"
            assert host_port not in seen, f"{name} and {seen.get(host_port)} both publish {host_port}"
            seen[host_port] = name
    assert {"8080", "9092"} <= set(seen)


def test_volumes_are_named_and_declared() -> None:
    declared = set(COMPOSE["volumes"])
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            assert source in declared, f"{name} mounts {source}, which is not a named volume"


def test_postgres_init_creates_the_databases_the_services_use() -> None:
    script = COMPOSE["configs"]["postgres-init"]["content"]
    created = set(re.findall(r"create database (\w+)", script))
    used = set()
    for environment in environments().values():
        for value in environment.values():
            used |= set(re.findall(r"postgresql(?:\+\w+)?://[^@]+@postgres:5432/(\w+)", value))
    assert used == created == {"journeys", "airflow"}
    mounted = [config["target"] for config in SERVICES["postgres"]["configs"]]
    assert mounted == ["/docker-entrypoint-initdb.d/01-journeys.sql"]


def test_airflow_services_share_one_configuration() -> None:
    airflow = {
        name: service
        for name, service in SERVICES.items()
        if built_here(service) and "entrypoint" not in service
    }
    assert {str(s["command"][0]) for s in airflow.values()} >= {
        "api-server",
        "scheduler",
        "dag-processor",
        "triggerer",
    }
    first = next(iter(airflow.values()))["environment"]
    for name, service in airflow.items():
        assert service["environment"] == first, f"{name} runs with a different configuration"
    assert first["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-api-server:8080/")
