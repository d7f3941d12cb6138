"""Scenario 1: the loader SIGKILLed again and again, at random points and between the warehouse
commit and the Kafka offset commit; the warehouse still ends with every event exactly once."""

from __future__ import annotations

import random
import signal
import sys
import time
from pathlib import Path

from journeys_core.settings import KafkaSettings
from tests.helpers import WatchedLoader, loader_env, publish, query, run_journeys
from tests.production import Production
from tests.reliability.ledger import assert_production_stored
from tests.reliability.scale import Sizes

KILLABLE = Path(__file__).with_name("killable_loader.py")


def _killable(nth_commit: int, env: dict[str, str]) -> WatchedLoader:
    """The loader that SIGKILLs itself on its nth Kafka offset commit (0: never)."""
    return WatchedLoader([sys.executable, str(KILLABLE), str(nth_commit)], env)


def test_loader_sigkilled_ten_times_loses_and_doubles_nothing(
    kafka: KafkaSettings, tmp_path: Path, sizes: Sizes
) -> None:
    production = Production(sizes.kill_events, seed=31)
    publish(kafka, production.records)
    url = f"duckdb:///{tmp_path}/warehouse.duckdb"
    env = loader_env(
        kafka,
        url,
        JOURNEYS_LOADER_BATCH_MAX_RECORDS=str(sizes.kill_batch_records),
        JOURNEYS_KAFKA_SESSION_TIMEOUT_MS=str(sizes.kill_session_timeout_ms),
        JOURNEYS_KAFKA_HEARTBEAT_INTERVAL_MS="500",
    )
    rng = random.Random(1)
    # Half the kills right after a warehouse commit (the Kafka commit never happens), half from
    # outside at a random moment: while joining the group, polling, validating or writing.
    windows = sizes.kills // 2
    plan = ["after-warehouse-commit"] * windows + ["random"] * (sizes.kills - windows)
    rng.shuffle(plan)
    for kill, where in enumerate(plan, 1):
        if where == "after-warehouse-commit":
            loader = _killable(rng.randint(1, 3), env)
            assert loader.wait() == -signal.SIGKILL, f"kill {kill} did not happen: {loader.log[-5:]}"
        else:
            # Once it loads, a random moment within the next few batches: mid-poll, mid-write... (a
            # wider window let a fast machine load all the events before the tenth kill)
            loader = _killable(0, env)
            assert loader.committed.wait(timeout=120), f"the loader never committed: {loader.log[-5:]}"
            time.sleep(rng.uniform(0.0, 0.5))
            assert loader.process.poll() is None, f"the loader finished before kill {kill}; raise the volume"
            loader.process.kill()
            loader.wait()
        [(stored,)] = query(url, "select count(*) from raw.touchpoints")
        print(f"kill {kill} ({where}): {stored:,} events stored so far")

    final = run_journeys("ingest", env=env)
    assert final.returncode == 0, final.stderr
    assert_production_stored("loader SIGKILLed", url, kafka, production)
