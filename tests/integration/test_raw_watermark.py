"""The ingest DAG's mark for "new rows in raw" changes with every committed batch, whatever its stamp."""

from __future__ import annotations

import datetime as dt

from journeys.pipeline import raw_watermark
from journeys_core.settings import WarehouseSettings
from streams.contract import Touchpoint, decode
from streams.sinks import open_sink
from streams.sinks.base import Batch
from tests.events import encode, event

_NOW = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)


def _write(url: str, offset: int, loaded_at: dt.datetime) -> None:
    touchpoint = decode(encode(event(order_id=f"O-{offset}")), now=_NOW)
    assert isinstance(touchpoint, Touchpoint)
    batch = Batch()
    batch.add_touchpoint(touchpoint, "touchpoints.sales", 0, offset)
    batch.cover("touchpoints.sales", 0, offset, offset + 1, b"x")
    sink = open_sink(url)
    try:
        sink.setup()
        sink.write(batch, "group", loaded_at)
    finally:
        sink.close()


def test_a_batch_stamped_before_the_last_mark_still_moves_it(warehouse_url: str) -> None:
    warehouse = WarehouseSettings(url=warehouse_url)
    _write(warehouse_url, 0, _NOW)
    announced = raw_watermark(warehouse)
    assert announced is not None
    # A `--follow` loader stamped this batch before the drain announced, and committed it after.
    _write(warehouse_url, 1, _NOW - dt.timedelta(seconds=5))
    assert raw_watermark(warehouse) not in (None, announced)
