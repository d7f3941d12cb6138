"""`journeys status` while a `journeys ingest --follow` loader holds the DuckDB file, as a user runs them."""

from __future__ import annotations

import re
import signal
import sys
import time

from journeys_core.settings import KafkaSettings
from streams.topics import admin_client, department_topics
from tests.events import stream
from tests.helpers import WatchedLoader, loader_env, publish, query, run_journeys

_WAIT_S = 60.0


def _committed_in_kafka(kafka: KafkaSettings) -> dict[str, int]:
    """The offsets the loader group committed to Kafka, summed per topic."""
    admin = admin_client(kafka)
    try:
        group = admin.list_group_offsets({kafka.consumer_group: None}).get(kafka.consumer_group, {})
    finally:
        admin.close()
    totals: dict[str, int] = {}
    for tp, meta in group.items():
        totals[tp.topic] = totals.get(tp.topic, 0) + max(int(meta.offset), 0)
    return totals


def test_status_while_a_loader_holds_the_duckdb_file_shows_the_lag_from_kafka(
    kafka: KafkaSettings, duckdb_url: str
) -> None:
    records = [*stream(90, seed=11), ("sales", b"k", b"{"), ("shipping", b"k", b"{")]
    published = {topic: 0 for topic in department_topics(kafka)}
    for department, _, _ in records:
        published[kafka.topic(department)] += 1
    env = loader_env(kafka, duckdb_url)
    loader = WatchedLoader([sys.executable, "-m", "journeys", "--verbose", "ingest", "--follow"], env)
    try:
        publish(kafka, records)
        deadline = time.monotonic() + _WAIT_S
        while _committed_in_kafka(kafka) != published:  # loaded, and mirrored into Kafka
            assert loader.process.poll() is None, "".join(loader.log)[-2000:]
            assert time.monotonic() < deadline, f"not all loaded within {_WAIT_S:.0f} s"
            time.sleep(0.2)

        shown = run_journeys("status", env=env, timeout=120)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        text = shown.stdout
        assert text.splitlines()[0] == (
            f"the DuckDB file is held by a running loader (pid {loader.process.pid}): "
            "showing what the broker knows"
        )
        assert "broker" in text and "reachable" in text
        assert re.search(r"┃ in Kafka ┃ committed in Kafka ┃ lag ┃ last commit ┃", text)
        for topic, count in published.items():
            assert re.search(rf"{re.escape(topic)}\s*│\s*{count}\s*│\s*{count}\s*│\s*0\s*│\s*\?\s*│", text), (
                text
            )
        assert "last load: unknown while the DuckDB file is held" in text
        assert text.count("(unavailable while the DuckDB file is held)") == 3
        assert "raw.touchpoints" not in text, "no row counts while the file is held"
    finally:
        loader.process.send_signal(signal.SIGTERM)
        assert loader.wait() == 0, "".join(loader.log)[-2000:]

    # Released: the warehouse's own view, the same offsets, and the row counts again.
    assert query(duckdb_url, "select count(*) from raw.touchpoints") == [(90,)]
    after = run_journeys("status", env=env, timeout=120)
    assert after.returncode == 0, after.stdout + after.stderr
    assert "held by" not in after.stdout and "loaded up to" in after.stdout
    for topic, count in published.items():
        assert re.search(rf"{re.escape(topic)}\s*│\s*{count}\s*│\s*{count}\s*│\s*0\s*│", after.stdout)
    assert re.search(r"raw\.touchpoints\s*│\s*90\s*│", after.stdout)
    assert re.search(r"raw\.quarantine \(waiting\)\s*│\s*2 \(1 distinct\)", after.stdout)
