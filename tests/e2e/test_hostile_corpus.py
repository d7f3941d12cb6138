"""The hostile corpus of issue 17, mixed into simulated traffic, through the stages of `journeys run`.

Every class of record that once stopped the loader, broke dbt or slipped through unnoticed (deep
nesting, each compression codec, an oversized key, items 2^31, amount 1e10, a phone without an
ASCII digit, timestamps before 1970 or year 1 in UTC, duplicate JSON keys, escaped NUL, offsets
without a colon, not JSON, not UTF-8, a Kafka tombstone, an event_id reused with other content, ...)
is published among a simulated data set with its own faults (redeliveries, late, out of order and
malformed records). Then ingest, the gated transform and the report, on DuckDB and PostgreSQL: the
run has no problem (no critical gate fails), every valid event, simulated or at the edges of the
contract, is loaded once and reaches the marts, and every hostile record is quarantined with a
reason a person can act on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaProducer
from pydantic import SecretStr

from journeys import pipeline
from journeys_core.settings import (
    KafkaSettings,
    LoaderSettings,
    PrivacySettings,
    QualitySettings,
    WarehouseSettings,
)
from streams.contract import Touchpoint, decode
from streams.kafka_config import client_options
from streams.produce import Publisher
from streams.simulator import SimulatedRecord, Simulation, SimulationConfig
from tests.events import encode, event
from tests.helpers import query
from tests.hostile import CODECS, EDGE_KEYS, EDGES, KEYS, MORE_EDGES, POISON
from tests.marts import TEST_PII_KEY

CONFLICT = "same event_id, different content"
# Small batches: the conflicts meet their originals in the warehouse, not in their own batch.
LOADER = LoaderSettings(idle_seconds=1.0, batch_max_seconds=1.0, batch_max_records=200)


@dataclass(frozen=True)
class Hostile:
    """One record that must be quarantined, and words its reason must hold."""

    name: str
    department: str
    key: bytes | None
    value: bytes | None
    words: str


@dataclass
class Corpus:
    hostile: list[Hostile]
    edges: dict[str, tuple[bytes, bytes]]  # name -> (key, value): valid, so they load
    redelivered: bytes  # a simulated event again, written otherwise: a silent duplicate


def _conflicts(records: list[SimulatedRecord]) -> tuple[list[Hostile], bytes]:
    """Two simulated orders' event_ids reused with other content, and a third order re-sent as is
    but written otherwise; each under its original's key, so in its partition, after it."""
    orders = [r for r in records if r.kind == "event" and b'"event_type":"sales.order_placed"' in r.value]
    replaced, repriced, resent = orders[0], orders[1], orders[2]
    assert replaced.event_id and repriced.event_id
    check_in = encode(
        event(
            "sales.check_in",
            event_id=replaced.event_id,
            order_id=None,
            customer={"customer_id": "CUS-unrelated"},
            attributes={"channel": "app"},
        )
    )
    body = json.loads(repriced.value)
    body["attributes"]["amount"] += 1
    conflicts = [
        Hostile(
            "an order's event_id reused by a check-in",
            "sales",
            replaced.key,
            check_in,
            f"conflicts with stored event '{replaced.event_id}' (read from ",
        ),
        Hostile(
            "an order re-sent with another amount",
            "sales",
            repriced.key,
            encode(body),
            f"conflicts with stored event '{repriced.event_id}' (read from ",
        ),
    ]
    return conflicts, json.dumps(json.loads(resent.value), sort_keys=True, indent=1).encode()


def _corpus(records: list[SimulatedRecord]) -> Corpus:
    hostile = [
        Hostile(name, "sales", KEYS.get(name, b"k"), payload, words)
        for name, (payload, words) in POISON.items()
    ]
    hostile.append(Hostile("a Kafka tombstone (no value)", "support", b"k", None, "empty record"))
    conflicts, redelivered = _conflicts(records)
    edges = {name: (EDGE_KEYS.get(name, b"k"), value) for name, value in (EDGES | MORE_EDGES).items()}
    return Corpus(hostile + conflicts, edges, redelivered)


def _publish(kafka: KafkaSettings, records: list[SimulatedRecord], corpus: Corpus) -> None:
    """The simulated records with the corpus spread among them; some of it compressed with each
    codec; the conflicts and the redelivery last, each after its original."""
    conflicts = [h for h in corpus.hostile if h.name.startswith("an order")]
    spread = [(h.department, h.key, h.value) for h in corpus.hostile if h not in conflicts]
    spread += [("sales", key, value) for key, value in corpus.edges.values()]
    compressed, spread = spread[: 2 * len(CODECS)], spread[2 * len(CODECS) :]
    step = max(1, len(records) // (len(spread) + 1))
    publisher = Publisher(kafka)
    for index, record in enumerate(records):
        publisher.publish(record.department, record.key, record.value)
        if index % step == 0 and spread:
            department, key, value = spread.pop()
            publisher.publish(department, key, value)  # type: ignore[arg-type]  # a tombstone is None
        if index == len(records) // 2:
            _publish_compressed(kafka, compressed)
    for department, key, value in spread:
        publisher.publish(department, key, value)  # type: ignore[arg-type]
    publisher.close()
    last = Publisher(kafka)
    for hostile in conflicts:
        last.publish(hostile.department, hostile.key, hostile.value)  # type: ignore[arg-type]
    resent = next(r for r in records if json.loads(r.value) == json.loads(corpus.redelivered))
    last.publish("sales", resent.key, corpus.redelivered)
    last.close()


def _publish_compressed(kafka: KafkaSettings, records: list[tuple[str, bytes | None, bytes | None]]) -> None:
    for number, codec in enumerate(CODECS):
        producer = KafkaProducer(
            **client_options(kafka), compression_type=codec, acks="all", max_request_size=4 * 1024 * 1024
        )
        for department, key, value in records[2 * number : 2 * number + 2]:
            producer.send(kafka.topic(department), key=key, value=value)
        producer.flush(timeout=30)
        producer.close()


@pytest.mark.slow
def test_a_hostile_corpus_in_simulated_traffic_runs_clean(
    kafka: KafkaSettings, warehouse_url: str, tmp_path: Path
) -> None:
    config = SimulationConfig(customers=80, days=45, seed=23, duplicate_rate=0.03, malformed_rate=0.02)
    simulation = Simulation(config)
    records = list(simulation.records())
    corpus = _corpus(records)
    assert len(corpus.hostile) >= 50
    _publish(kafka, records, corpus)

    warehouse = WarehouseSettings(url=warehouse_url)
    privacy = PrivacySettings(pii_key=SecretStr(TEST_PII_KEY))
    stats = pipeline.ingest(kafka, LOADER, warehouse, privacy=privacy)
    run = pipeline.gated_transform(
        warehouse, privacy=privacy, quality=QualitySettings(output_dir=tmp_path / "gx")
    )
    assert run.problem is None, run.problem
    assert [stage.name for stage in run.stages] == ["check raw", "transform", "check marts"]
    assert stats.batches > 1, "conflicts meet their originals in the warehouse too"
    assert pipeline.write_report(warehouse, tmp_path / "report.html").is_file()

    # Every valid event once: the simulated ones (whatever their faults) and the edges.
    edges = {name: decode(value) for name, (_, value) in corpus.edges.items()}
    assert all(isinstance(edge, Touchpoint) for edge in edges.values()), "edges are valid"
    valid = set(simulation.truth().events) | {e.event_id for e in edges.values() if isinstance(e, Touchpoint)}
    [(rows, distinct)] = query(
        warehouse_url, "select count(*), count(distinct event_id) from raw.touchpoints"
    )
    stored = {str(row[0]) for row in query(warehouse_url, "select event_id from raw.touchpoints")}
    assert rows == distinct == len(valid) and stored == valid
    built = {str(row[0]) for row in query(warehouse_url, "select event_id from marts.fct_touchpoints")}
    assert built == stored, "every loaded event reaches the marts"

    # Every hostile record quarantined, with a reason that says what is wrong.
    malformed = [r.value for r in records if r.kind == "malformed"]
    rows_ = query(warehouse_url, "select payload, reason from raw.quarantine")
    quarantined = {None if payload is None else bytes(payload): reason for payload, reason in rows_}
    assert len(rows_) == len(quarantined) == len(corpus.hostile) + len(malformed)
    assert all(reason and reason.strip() for reason in quarantined.values())
    for hostile in corpus.hostile:
        assert hostile.value in quarantined, f"{hostile.name}: quarantined as it came"
        reason = quarantined[hostile.value]
        assert hostile.words in reason, f"{hostile.name}: reason {reason!r} should mention {hostile.words!r}"
    conflicts = [reason for reason in quarantined.values() if CONFLICT in reason]
    assert len(conflicts) == stats.conflicts == 2
    assert corpus.redelivered not in quarantined, "the same content written otherwise is a redelivery"
    assert set(malformed) <= set(quarantined)
    assert (stats.loaded, stats.quarantined) == (len(valid), len(quarantined))
