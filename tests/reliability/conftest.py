"""The fault matrix: its marker, and the sizes each scenario runs at (tests/reliability/scale.py)."""

from __future__ import annotations

import pytest

from tests.reliability.ledger import TAKEN
from tests.reliability.scale import SCALE, SIZES, Sizes


def pytest_configure(config: pytest.Config) -> None:
    if SCALE not in SIZES:
        raise pytest.UsageError(f"JOURNEYS_RELIABILITY_SCALE must be one of {sorted(SIZES)}, not {SCALE!r}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/reliability/" in str(item.fspath):
            item.add_marker(pytest.mark.reliability)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def sizes() -> Sizes:
    return SIZES[SCALE]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TAKEN:
        terminalreporter.section(f"fault matrix ({SCALE} scale)")
        for ledger in TAKEN:
            terminalreporter.write_line(ledger.line())
