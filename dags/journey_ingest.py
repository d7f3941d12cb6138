"""journey_ingest: drains the touchpoint topics into the warehouse, bounded in time, on a schedule.

Each run does what `journeys ingest` does (exactly once: offsets are stored with the rows), stops
after JOURNEYS_AIRFLOW_INGEST_MAX_SECONDS whether or not it caught up, and announces the asset
`raw.touchpoints` when rows landed there since its last announcement (loaded by this drain or by
a `journeys ingest --follow` loader in the same consumer group), which starts journey_transform.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Asset, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from journeys_core.settings import AirflowSettings

SETTINGS = AirflowSettings()

# The landing table of the loader; journey_transform is scheduled on it (by name).
RAW_TOUCHPOINTS = Asset(
    name="raw.touchpoints", uri="x-journeys://warehouse/raw/touchpoints", group="journeys"
)


@dag(
    dag_id="journey_ingest",
    schedule=SETTINGS.ingest_schedule,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    # A second drain at the same time would only make the consumer group rebalance.
    max_active_runs=1,
    default_args={
        "retries": SETTINGS.retries,
        "retry_delay": dt.timedelta(seconds=30),
        "retry_exponential_backoff": True,
    },
    tags=["journeys"],
    doc_md=__doc__,
)
def journey_ingest() -> None:
    @task(
        inlets=[RAW_TOUCHPOINTS],  # to read what the last run announced
        outlets=[RAW_TOUCHPOINTS],
        # The drain commits and returns at its own bound; this only catches a loader that hangs.
        execution_timeout=dt.timedelta(seconds=SETTINGS.ingest_max_seconds + 120),
    )
    def drain(*, inlet_events: Any = None, outlet_events: Any = None) -> dict[str, Any]:
        """Load until caught up or out of time; idempotent, since the warehouse holds the offsets."""
        from journeys import pipeline  # imported at run time: DAG parsing stays fast
        from journeys_core.settings import KafkaSettings, LoaderSettings, WarehouseSettings

        # Read when the task runs, so the URL (and its password) never becomes part of the DAG.
        loader_url = AirflowSettings().loader_warehouse_url
        warehouse = WarehouseSettings(url=loader_url) if loader_url else WarehouseSettings()
        stats = pipeline.ingest(
            KafkaSettings(), LoaderSettings(), warehouse, max_seconds=SETTINGS.ingest_max_seconds
        )
        # New rows since the last announcement, from this drain or from a `--follow` loader.
        landed = pipeline.raw_watermark(warehouse)
        last = list(inlet_events[RAW_TOUCHPOINTS].ascending(False).limit(1))
        if landed is None or (last and (last[0].extra or {}).get("landed") == landed):
            # Skipped tasks announce nothing, so journey_transform does not run for nothing.
            raise AirflowSkipException("nothing new landed in raw.touchpoints since the last announcement")
        outlet_events[RAW_TOUCHPOINTS].extra = {"landed": landed, "loaded": stats.loaded}
        return {
            "consumed": stats.consumed,
            "loaded": stats.loaded,
            "quarantined": stats.quarantined,
            "duplicates": stats.duplicates,
            "batches": stats.batches,
            "landed": landed,
        }

    drain()


journey_ingest()
