"""A multi-year history judged on two business calendars, one west of UTC and one east of it.

tests/fixtures/backfill/ holds the events and the mart rows worked out by hand (its README says
why each is what it is). Each warehouse takes the events through `produce`, the loader, the raw
gate, dbt, the marts gate and the report in America/Sao_Paulo; a build in Asia/Tokyo is then
refused until `--full-refresh`, which judges every date again.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from pydantic import SecretStr

from journeys import pipeline
from journeys.transform import TransformError
from journeys_core.settings import KafkaSettings, LoaderSettings, PrivacySettings, QualitySettings
from journeys_core.settings import WarehouseSettings as Warehouse
from streams.produce import produce_file
from tests.helpers import load, query
from tests.integration.test_dbt_known_answers import _canonical
from tests.marts import TEST_PII_KEY, assert_built, run_dbt

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "backfill"
AS_OF = dt.date(2026, 6, 30)
WEST, EAST = "America/Sao_Paulo", "Asia/Tokyo"
# Two of seven journeys, and the one ticket, are impossible: far above the 1 % default, which a
# fixture this small cannot stay under; the test lifts the share and expects the warnings instead.
QUALITY = {"max_impossible_share": 1.0}
# Each expected file: the mart, and the SQL filter that picks the rows it lists.
EXPECTED = {
    "fct_order_journeys": "",
    "dim_customers": "",
    "mart_cohort_retention": "",
    "mart_department_scorecard": "where department = 'shipping' and problems_owned > 0",
}


def _expected(name: str, zone: str) -> tuple[list[str], list[tuple[str, ...]]]:
    with (FIXTURES / f"{name}.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    header = [column for column in rows[0] if column != "zone"]
    return header, sorted(tuple(_canonical(r[c]) for c in header) for r in rows if r["zone"] == zone)


def _differences(url: str, zone: str) -> list[str]:
    found = []
    for name, where in EXPECTED.items():
        header, expected = _expected(name, zone)
        columns = ", ".join(dict.fromkeys(header))
        got = sorted(
            tuple(_canonical(v) for v in row)
            for row in query(url, f"select distinct {columns} from marts.{name} {where}")
        )
        if got != expected:
            found.append(f"{zone} {name}:\n  expected {expected}\n  found    {got}")
    return found


def test_a_backfill_is_judged_on_the_business_calendar(
    warehouse_url: str, kafka: KafkaSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = produce_file(FIXTURES / "events.jsonl", kafka)
    assert report.published == 23 and not report.bad_lines
    assert load(kafka, LoaderSettings(idle_seconds=1.0, batch_max_seconds=1.0), warehouse_url).loaded == 23

    monkeypatch.setenv("JOURNEYS_BUSINESS_TIMEZONE", WEST)
    run = pipeline.gated_transform(
        Warehouse(url=warehouse_url),
        privacy=PrivacySettings(pii_key=SecretStr(TEST_PII_KEY)),
        quality=QualitySettings(output_dir=tmp_path / "gx", **QUALITY),
        as_of=AS_OF,
    )
    assert run.problem is None, run.problem
    warned = {o.name for check in run.checks for o in check.outcomes if not o.success}
    assert warned == {
        "marts.fct_order_journeys.no_impossible_sequences",
        "marts.fct_tickets.no_impossible_sequences",
        "marts.fct_order_journeys.placement_arrives",  # O6's order_placed never came
    }
    assert _differences(warehouse_url, WEST) == []
    html = pipeline.write_report(Warehouse(url=warehouse_url), tmp_path / "report.html").read_text()
    assert "2024" in html and "2026" in html  # a multi-year axis says its years

    # The marts hold Sao Paulo's dates: another zone is refused, in one sentence naming the way out.
    monkeypatch.setenv("JOURNEYS_BUSINESS_TIMEZONE", EAST)
    with pytest.raises(
        TransformError, match=f"JOURNEYS_BUSINESS_TIMEZONE={WEST} again, or run .*--full-refresh"
    ):
        run_dbt(warehouse_url, tmp_path, as_of=AS_OF)
    with pytest.raises(TransformError, match="--full-refresh"):  # `journeys run` refuses before publishing
        pipeline.preflight(
            Warehouse(url=warehouse_url),
            PrivacySettings(pii_key=SecretStr(TEST_PII_KEY)),
            tmp_path / "r.html",
        )
    assert_built(run_dbt(warehouse_url, tmp_path, as_of=AS_OF, full_refresh=True))
    assert _differences(warehouse_url, EAST) == []
