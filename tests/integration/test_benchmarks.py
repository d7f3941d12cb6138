"""Every benchmark under bench/ still runs and prints its figure, at a size CI can afford.

The figures themselves are not checked: at these sizes they mean nothing, and wall-clock times
are never asserted on a shared machine. docs/performance.md records the full-size runs.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

# bench.run_wall_time is `make run` three times; the e2e tests already run `journeys run`.
SMALL_RUNS = {
    "dbt_incremental": (["--events", "3000", "--new", "300", "--repeat", "2"], "median ratio of 2 rounds: "),
    "ingest_throughput": (["--events", "25000", "--rounds", "1"], "ratio loader/baseline: "),
    "loader_memory": (["--events", "3000"], "peak RSS: "),
    "simulator_speed": (["--customers", "50", "--days", "10", "--repeat", "1"], " events/s"),
}


@pytest.mark.parametrize("name", sorted(SMALL_RUNS))
def test_benchmark_runs_and_prints_its_figure(name: str) -> None:
    args, figure = SMALL_RUNS[name]
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"bench.{name} failed:\n{done.stdout}\n{done.stderr}"
    assert figure in done.stdout + done.stderr, f"bench.{name} printed no figure:\n{done.stdout}"
