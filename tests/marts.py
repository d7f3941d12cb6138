"""Helpers for the dbt tests: run the transform stage, read marts back, score them against truth."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from journeys.transform import Command, TransformSummary, transform
from journeys_core.settings import PrivacySettings, WarehouseSettings
from tests.helpers import query

TEST_PII_KEY = "journeys-test-key: not a secret"

MARTS = (
    "fct_touchpoints",
    "fct_tickets",
    "fct_order_journeys",
    "dim_customers",
    "mart_department_scorecard",
    "mart_handoffs",
    "mart_journey_funnel",
    "mart_journey_paths",
    "mart_cohort_retention",
    "fct_untyped_attributes",
)


def run_dbt(
    url: str,
    workdir: Path,
    *,
    as_of: dt.date | None = None,
    full_refresh: bool = False,
    command: Command = "build",
    select: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    unit_tests: bool = False,
    key: str = TEST_PII_KEY,
) -> TransformSummary:
    """`journeys transform` as the command line runs it, with dbt's files kept under `workdir`."""
    summary = transform(
        WarehouseSettings(url=url),
        PrivacySettings(pii_key=SecretStr(key)),
        command=command,
        full_refresh=full_refresh,
        select=select,
        exclude=exclude,
        unit_tests=unit_tests,
        as_of=as_of,
        target_path=workdir / "target",
        log_path=workdir / "logs",
    )
    return summary


def assert_built(summary: TransformSummary) -> None:
    problems = "\n".join(f"{f.status} {f.node}: {f.message}" for f in summary.failures)
    assert summary.success, f"{summary.headline()}\n{problems}\nlog: {summary.log_path}"


# When a run built a row, and the as-of date it last judged a journey at (an outcome holds until
# its settle date, so an incremental run re-judges only those that time changed): they differ
# between runs, so comparisons of marts leave them out.
BOOKKEEPING = frozenset({"built_at", "judged_on", "staged_at"})


def columns(url: str, table: str) -> list[str]:
    """The mart's columns in order, without incremental bookkeeping."""
    rows = query(
        url,
        "select column_name from information_schema.columns "
        f"where table_schema = 'marts' and table_name = '{table}' order by ordinal_position",
    )
    return [str(row[0]) for row in rows if row[0] not in BOOKKEEPING]


def _plain(value: Any) -> Any:
    """One spelling per value across warehouses: numbers as rounded floats."""
    if isinstance(value, decimal.Decimal | float):
        return round(float(value), 4)
    return value


def mart(url: str, table: str, wanted: Iterable[str] | None = None) -> list[tuple[Any, ...]]:
    """Every row of a mart (chosen columns, default all), sorted, for exact comparisons."""
    names = list(wanted) if wanted is not None else columns(url, table)
    rows = query(url, f"select {', '.join(names)} from marts.{table}")
    return sorted((tuple(_plain(v) for v in row) for row in rows), key=repr)


def all_marts(url: str) -> dict[str, list[tuple[Any, ...]]]:
    return {table: mart(url, table) for table in MARTS}


def pair_scores(truth: Mapping[str, str], predicted: Mapping[str, str]) -> tuple[float, float]:
    """Precision and recall of "same customer" pairs of events, from cluster-combination counts."""
    both: Counter[tuple[str, str]] = Counter()
    true_sizes: Counter[str] = Counter()
    predicted_sizes: Counter[str] = Counter()
    for event_id, true_customer in truth.items():
        key = predicted.get(event_id)
        if key is None:
            continue
        both[(true_customer, key)] += 1
        true_sizes[true_customer] += 1
        predicted_sizes[key] += 1

    def pairs(counts: Iterable[int]) -> int:
        return sum(n * (n - 1) // 2 for n in counts)

    agreed = pairs(both.values())
    precision = agreed / pairs(predicted_sizes.values()) if pairs(predicted_sizes.values()) else 1.0
    recall = agreed / pairs(true_sizes.values()) if pairs(true_sizes.values()) else 1.0
    return precision, recall


def late_batches(
    records: Iterable[tuple[str, bytes, bytes]], *, batches: int = 5, late_share: float = 0.15, seed: int = 7
) -> list[list[tuple[str, bytes, bytes]]]:
    """The records cut into `batches` by time, then made to arrive out of order and weeks late.

    Each record starts in the batch of its time slice; `late_share` of them move to a random later
    batch (a batch spans weeks of a simulated run). Every sales event of every seventh order moves
    to the last batch, so the shipping and support events of those orders first form customers of
    their own, whose keys change when the order's customer id finally arrives. Batches are shuffled.
    """
    rng = random.Random(seed)
    ordered = list(records)
    held: list[list[tuple[str, bytes, bytes]]] = [[] for _ in range(batches)]
    withheld_orders = {
        order
        for order in {_order_of(value) for _, _, value in ordered}
        if order and hash_order(order) % 7 == 0
    }
    for position, record in enumerate(ordered):
        slot = position * batches // len(ordered)
        department, _, value = record
        if department == "sales" and _order_of(value) in withheld_orders:
            slot = batches - 1
        elif slot < batches - 1 and rng.random() < late_share:
            slot = rng.randrange(slot + 1, batches)
        held[slot].append(record)
    for batch in held:
        rng.shuffle(batch)
    return held


def hash_order(order_id: str) -> int:
    """A stable small number per order (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(order_id.encode()).digest()[:4], "big")


def _order_of(value: bytes) -> str | None:
    try:
        order = json.loads(value).get("order_id")
    except (ValueError, AttributeError):
        return None  # a malformed record
    return order if isinstance(order, str) else None
