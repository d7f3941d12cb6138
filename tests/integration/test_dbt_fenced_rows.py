"""dbt never fails on one row it can fence off: events loaded under an older, looser contract.

The contract refuses these at the loader today; rows already in raw must still build. Each is
written into raw.touchpoints directly, as an older loader would have, next to the hand-written
known-answer events: the build succeeds on both warehouses, the events reach the marts with the
untypable attributes unknown, fct_untyped_attributes lists them, and the report is written.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pydantic import SecretStr

from journeys import pipeline
from journeys_core.settings import KafkaSettings, LoaderSettings, PrivacySettings, QualitySettings
from journeys_core.settings import WarehouseSettings as Warehouse
from streams.produce import produce_file
from tests.helpers import load, query
from tests.marts import TEST_PII_KEY
from tests.quality import execute

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "known_answers"
AS_OF = dt.date(2026, 3, 31)
UNTYPED = "marts.fct_untyped_attributes"
# "020 7946 0777" in Arabic-Indic digits
ARABIC_INDIC = "".join(chr(0x0660 + int(c)) if c.isdigit() else c for c in "020 7946 0777")
# event id, type, customer (id, email, phone), order id, attributes
LEGACY = [
    ("00000000-0000-4000-a000-000000000001", "sales.order_placed", ("C-LEGACY", None, None), "X1",
     {"amount": 1e15, "currency": "GBP", "items": 2**31, "channel": "web",
      "promised_delivery_date": "2026-02-30"}),
    ("00000000-0000-4000-a000-000000000002", "shipping.delivered", (None, None, "+44 20 7946 0777"),
     "X1", {"damaged": "maybe"}),
    ("00000000-0000-4000-a000-000000000003", "support.csat_submitted", (None, "legacy@example.com", None),
     None, {"score": "five", "ticket_id": None}),
    # phone-only customers whose phone has no ASCII digit: no email or phone hash to stitch by
    ("00000000-0000-4000-a000-000000000004", "support.ticket_opened", (None, None, "call me please"),
     None, {"ticket_id": "T-LEGACY", "channel": "phone", "category": "other"}),
    ("00000000-0000-4000-a000-000000000005", "shipping.shipment_dispatched", (None, None, ARABIC_INDIC),
     "X1", {"carrier": "dpd", "tracking_id": "TRK-X1"}),
]  # fmt: skip


def _literal(value: str | None) -> str:
    return "null" if value is None else "'" + value.replace("'", "''") + "'"


def _insert_legacy(url: str) -> None:
    rows = [
        "(" + ", ".join([
            _literal(event_id), _literal(event_type), _literal(event_type.split(".")[0]), "1",
            "timestamp '2026-03-20 10:00:00'", "'legacy'",
            _literal(customer_id), _literal(email), _literal(phone), _literal(order_id),
            _literal(json.dumps(attributes, ensure_ascii=False)),
            "'legacy.touchpoints'", "0", str(offset), "timestamp '2026-03-20 10:00:01'",
        ]) + ")"
        for offset, (event_id, event_type, (customer_id, email, phone), order_id, attributes)
        in enumerate(LEGACY)
    ]  # fmt: skip
    execute(
        url,
        [
            "insert into raw.touchpoints (event_id, event_type, department, schema_version, occurred_at, "
            "source, customer_id, email, phone, order_id, attributes, topic, kafka_partition, kafka_offset, "
            "loaded_at) values " + ", ".join(rows)
        ],
    )


def test_rows_dbt_cannot_type_are_fenced_off_not_fatal(
    warehouse_url: str, kafka: KafkaSettings, tmp_path: Path
) -> None:
    assert produce_file(FIXTURES / "events.jsonl", kafka).published == 43
    assert load(kafka, LoaderSettings(idle_seconds=1.0, batch_max_seconds=1.0), warehouse_url).loaded == 43
    _insert_legacy(warehouse_url)
    warehouse = Warehouse(url=warehouse_url)

    run = pipeline.gated_transform(
        warehouse,
        privacy=PrivacySettings(pii_key=SecretStr(TEST_PII_KEY)),
        quality=QualitySettings(output_dir=tmp_path / "gx"),
        as_of=AS_OF,
    )
    assert run.problem is None, run.problem
    warned = {o.name for check in run.checks for o in check.outcomes if not o.success}
    assert "marts.fct_untyped_attributes.none" in warned

    untyped = dict(
        query(warehouse_url, "select event_id, untyped_attributes from marts.fct_untyped_attributes")
    )
    assert untyped == {
        LEGACY[0][0]: "amount, items, promised_delivery_date",
        LEGACY[1][0]: "damaged",
        LEGACY[2][0]: "score",
    }
    [(events, without_customer)] = query(
        warehouse_url,
        "select count(*), sum(case when customer_key is null then 1 else 0 end) from marts.fct_touchpoints",
    )
    assert (events, without_customer) == (48, 0)
    # unknown is not zero: the order is there, with what could not be typed left null
    [(amount, items, promised)] = query(
        warehouse_url,
        "select amount, items, promised_delivery_date from marts.fct_order_journeys where order_id = 'X1'",
    )
    assert (amount, items, promised) == (None, None, None)
    assert pipeline.write_report(warehouse, tmp_path / "report.html").is_file()
