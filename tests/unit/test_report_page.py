"""The report page without a warehouse: an empty one, and where the file goes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from journeys.insights import QUERIES, Insights
from journeys.report import ReportError, render, write_report

EMPTY = Insights(rows={name: [] for name in QUERIES})


def test_an_empty_warehouse_reports_no_journeys_and_no_shares() -> None:
    page = render(EMPTY, source="duckdb:///w.duckdb", generated_at=dt.datetime(2026, 11, 28, tzinfo=dt.UTC))
    assert "<b>0</b>journeys" in page  # not the 1 a division guard used to show
    assert "Of 0 journeys, - went smoothly" in page


def test_a_folder_gets_the_report_inside_it(tmp_path: Path) -> None:
    written = write_report(EMPTY, tmp_path, source="test")
    assert written == tmp_path / "journeys.html"
    assert written.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert not list(tmp_path.glob("*.partial"))


def test_an_unwritable_place_is_one_sentence_and_leaves_nothing_behind(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ReportError, match=r"cannot write the report to .*--output") as raised:
        write_report(EMPTY, blocker / "sub" / "report.html", source="test")
    assert f"({blocker} is a file, not a folder)" in str(raised.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_orders_whose_placement_has_not_arrived_are_left_out_of_the_weekly_chart() -> None:
    with duckdb.connect() as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_order_journeys as select * from (values "
            "(timestamp '2026-03-03 10:00', 'smooth'), (null, 'in_progress')) as t(placed_at, outcome)"
        )
        rows = con.execute(QUERIES["outcomes_by_week"]).fetchall()
    assert [(str(week), outcome) for week, outcome, _ in rows] == [("2026-03-02", "smooth")]
