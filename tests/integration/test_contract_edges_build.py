"""Whatever the contract accepts must build, gate and report, on both warehouses.

Hypothesis draws batches of events at the edges of contract v1 (tests/edges.py); the ones the
contract accepts go through the embedded broker and the loader, then the raw gate, dbt and the
marts gate, and the report is written. A batch is drawn again per example into the same warehouse,
so later examples also exercise incremental builds.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from journeys import pipeline
from journeys_core.settings import KafkaSettings, LoaderSettings, PrivacySettings, QualitySettings
from journeys_core.settings import WarehouseSettings as Warehouse
from streams.contract import Touchpoint, decode
from tests.edges import edge_events
from tests.helpers import load, publish, query
from tests.marts import TEST_PII_KEY

LOADER = LoaderSettings(idle_seconds=1.0, batch_max_seconds=1.0)
# Each example is a full pipeline run (seconds, not milliseconds): few examples, the same ones on
# every machine, so a failure in CI is one a developer can repeat.
EXAMPLES = settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@pytest.mark.slow
@EXAMPLES
@given(batch=st.lists(edge_events(), min_size=40, max_size=60))
def test_edge_events_build_gate_and_report(
    batch: list[tuple[str, bytes, bytes]],
    warehouse_url: str,
    kafka: KafkaSettings,
    tmp_path: Path,
) -> None:
    accepted = [(d, k, v) for d, k, v in batch if isinstance(decode(v), Touchpoint)]
    assert len(accepted) >= len(batch) // 2, "the strategy should draw mostly valid events"
    publish(kafka, accepted)
    load(kafka, LOADER, warehouse_url)
    warehouse = Warehouse(url=warehouse_url)

    run = pipeline.gated_transform(
        warehouse,
        privacy=PrivacySettings(pii_key=SecretStr(TEST_PII_KEY)),
        quality=QualitySettings(output_dir=tmp_path / "gx", max_impossible_share=1.0),
        as_of=dt.date(2026, 12, 1),
    )
    assert run.problem is None, run.problem
    stored = {str(row[0]) for row in query(warehouse_url, "select event_id from raw.touchpoints")}
    built = {str(row[0]) for row in query(warehouse_url, "select event_id from marts.fct_touchpoints")}
    assert built == stored
    assert pipeline.write_report(warehouse, tmp_path / "report.html").is_file()
