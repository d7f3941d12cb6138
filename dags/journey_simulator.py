"""journey_simulator: a demo producer that publishes one seeded simulated run; paused when created.

Trigger it from the Airflow UI (its parameters say how many customers, days and which seed) to see
journey_ingest and journey_transform at work without a department system. It calls what
`journeys simulate` calls. The window ends at the run's date, so re-running a run publishes the same
events with the same ids, which the loader stores once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

from journeys_core.settings import AirflowSettings

SETTINGS = AirflowSettings()


@dag(
    dag_id="journey_simulator",
    # Manual only: two runs with different seeds would reuse order numbers for different people.
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    is_paused_upon_creation=True,
    max_active_runs=1,
    params={
        "customers": Param(500, type="integer", minimum=1, description="How many customers."),
        "days": Param(30, type="integer", minimum=1, description="How many days of history."),
        "seed": Param(42, type="integer", description="Same seed and date, same events."),
    },
    default_args={
        "retries": SETTINGS.retries,
        "retry_delay": dt.timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "execution_timeout": dt.timedelta(minutes=30),
    },
    tags=["journeys", "demo"],
    doc_md=__doc__,
)
def journey_simulator() -> None:
    @task
    def publish() -> dict[str, Any]:
        """Publish the simulated run whose window ends on the day this DAG run is for."""
        from journeys import pipeline
        from journeys_core.settings import KafkaSettings

        context = get_current_context()
        params = context["params"]
        days = int(params["days"])
        end = context["dag_run"].run_after.date()
        config = pipeline.simulation_config(
            int(params["customers"]), days, int(params["seed"]), end - dt.timedelta(days=days)
        )
        result = pipeline.simulate(KafkaSettings(), config)
        return {
            "records": result.records,
            "events": result.events,
            "duplicates": result.duplicates,
            "malformed": result.malformed,
            "start": config.resolved_start().isoformat(),
        }

    publish()


journey_simulator()
