"""The commands as a user runs them: simulate with truth, produce a file, ingest what they published."""

from __future__ import annotations

import re
from pathlib import Path

from journeys_core.settings import KafkaSettings
from streams.simulator import read_truth
from tests.events import encode, event
from tests.helpers import loader_env, query, run_journeys


def test_simulate_with_truth_then_ingest_accounts_for_every_record(
    kafka: KafkaSettings, duckdb_url: str, tmp_path: Path
) -> None:
    env = loader_env(kafka, duckdb_url)
    truth_path = tmp_path / "truth.json"
    simulated = run_journeys(
        "simulate",
        "--customers",
        "60",
        "--days",
        "30",
        "--seed",
        "3",
        "--start",
        "2026-09-01",
        "--truth",
        str(truth_path),
        env=env,
    )
    assert simulated.returncode == 0, simulated.stderr
    assert "published" in simulated.stdout

    ingested = run_journeys("ingest", env=env)
    assert ingested.returncode == 0, ingested.stderr
    truth = read_truth(truth_path)
    loaded = query(duckdb_url, "select count(*), count(distinct event_id) from raw.touchpoints")
    assert loaded == [(len(truth.events), len(truth.events))]
    [(quarantined,)] = query(duckdb_url, "select count(*) from raw.quarantine")
    assert quarantined == truth.records["malformed"]


def test_produce_publishes_good_lines_and_names_bad_ones(
    kafka: KafkaSettings, duckdb_url: str, tmp_path: Path
) -> None:
    lines = [
        encode(event(order_id="O-1")),
        b"{not json",
        encode(event("shipping.delivered", order_id="O-1")),
        encode(event("sales.unknown")),
        b"",
        encode(event("support.ticket_opened", order_id=None, customer={"phone": "+44 20 7946 0958"})),
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    env = loader_env(kafka, duckdb_url)

    produced = run_journeys("produce", str(path), env=env)
    assert produced.returncode == 1, "bad lines make produce exit 1 after publishing the good ones"
    assert "published 3 events" in produced.stdout
    assert "line 2: not valid JSON" in produced.stdout
    assert "line 4: unknown event_type" in produced.stdout

    assert run_journeys("ingest", env=env).returncode == 0
    rows = query(duckdb_url, "select department, count(*) from raw.touchpoints group by 1 order by 1")
    assert rows == [("sales", 1), ("shipping", 1), ("support", 1)]


def test_ingest_follow_stops_cleanly_on_sigterm(kafka: KafkaSettings, duckdb_url: str) -> None:
    import signal

    from tests.helpers import journeys, publish

    publish(kafka, [("sales", b"O-1", encode(event()))])
    process = journeys("--verbose", "ingest", "--follow", env=loader_env(kafka, duckdb_url))
    assert process.stderr is not None
    seen = []
    for line in process.stderr:  # wait until the first batch is committed
        seen.append(line)
        if "committed batch" in line:
            break
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, "".join(seen) + stderr
    assert query(duckdb_url, "select count(*) from raw.touchpoints") == [(1,)]


def test_simulate_follow_is_a_live_feed_that_ends_cleanly_on_sigterm(
    kafka: KafkaSettings, duckdb_url: str
) -> None:
    """A tiny data set at a high rate: the feed must run into later epochs until it is stopped."""
    import signal
    import time

    from tests.helpers import journeys

    env = loader_env(kafka, duckdb_url)
    feed = journeys("simulate", "--customers", "15", "--days", "7", "--follow", "--rate", "300", env=env)
    time.sleep(8)
    feed.send_signal(signal.SIGTERM)
    stdout, stderr = feed.communicate(timeout=60)
    assert feed.returncode == 0, stderr
    [published] = [int(n.replace(",", "")) for n in re.findall(r"published ([\d,]+) records", stdout)]

    ingested = run_journeys("ingest", env=env)
    assert ingested.returncode == 0, ingested.stderr
    skipped = int(re.findall(r"skipped ([\d,]+) duplicates", ingested.stdout)[0].replace(",", ""))
    [(loaded, distinct)] = query(duckdb_url, "select count(*), count(distinct event_id) from raw.touchpoints")
    [(quarantined,)] = query(duckdb_url, "select count(*) from raw.quarantine")
    assert loaded == distinct
    assert loaded + quarantined + skipped == published  # every record the feed sent is accounted for
    epochs = query(
        duckdb_url,
        "select count(distinct coalesce(regexp_extract(customer_id, '^CUS-(\\d+)-', 1), '0')) "
        "from raw.touchpoints where customer_id is not null",
    )
    assert epochs[0][0] >= 2, "the feed never went past its first data set"
