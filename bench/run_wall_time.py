"""Wall time of `make run` with a warm venv, at the default size, split by stage.

    python -m bench.run_wall_time [--repeat 3]

Each run starts from an empty DuckDB warehouse in a temporary folder, with no broker listening
(so `journeys run` starts its embedded one), exactly as on a fresh clone. Goal: under 60 s.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, machine, say
from streams.broker import free_port

STAGES = ("simulate", "ingest", "check raw", "transform", "check marts", "report")
ROW = re.compile(r"│ (" + "|".join(STAGES) + r")\s*│.*?│\s+([\d.]+) │")


def one_run() -> tuple[float, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="journeys-bench-run-") as home:
        env = {
            **os.environ,
            "JOURNEYS_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "JOURNEYS_WAREHOUSE_URL": f"duckdb:///{home}/warehouse.duckdb",
            "JOURNEYS_REPORT_PATH": str(Path(home) / "journeys.html"),
            "COLUMNS": "200",
        }
        started = time.perf_counter()
        done = subprocess.run(
            ["make", "--no-print-directory", "run"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"make run failed:\n{done.stdout}\n{done.stderr}")
    return wall, {name: float(seconds) for name, seconds in ROW.findall(done.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median counts (default 3)")
    args = parser.parse_args()
    say(f"make run wall time: default size, warm venv, median of {args.repeat}")
    say(f"machine: {machine()}")
    runs = sorted((one_run() for _ in range(args.repeat)), key=lambda run: run[0])
    for wall, stages in runs:
        split = ", ".join(f"{name} {seconds:.1f}" for name, seconds in stages.items())
        say(f"  {wall:5.1f} s  ({split}; start-up and broker {wall - sum(stages.values()):.1f})")
    wall, stages = runs[len(runs) // 2]
    say(f"median: {wall:.1f} s wall (goal < 60 s): " + ("met" if wall < 60 else "NOT met"))


if __name__ == "__main__":
    main()
