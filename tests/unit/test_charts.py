"""Every chart is well-formed SVG, escapes what it is given, and survives empty data."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from journeys import charts

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def _shapes(root: ET.Element) -> int:
    return sum(1 for e in root.iter() if e.tag in {f"{SVG}{t}" for t in ("rect", "path", "circle")})


ALL = {
    "stacked_columns": lambda n: charts.stacked_columns(
        [f"w{i}" for i in range(n)],
        {"smooth": [3.0] * n, "lost": [1.0] * n},
        charts.OUTCOME_COLORS,
        label="mix <&>",
        y_label="journeys",
    ),
    "horizontal_bars": lambda n: charts.horizontal_bars(
        [f"s{i}" for i in range(n)], [float(i) for i in range(n)], ["note"] * n, label="funnel"
    ),
    "stacked_bars_100": lambda n: charts.stacked_bars_100(
        [f"a > b & <c> {i}" for i in range(n)],
        {"smooth": [0.5] * n, "lost": [0.5] * n},
        charts.OUTCOME_COLORS,
        ["1"] * n,
        label="paths",
    ),
    "heatmap": lambda n: charts.heatmap(
        [f"r{i}" for i in range(n)],
        ["a", "b"],
        {(f"r{i}", "a"): 0.5 for i in range(n)},
        label="grid",
        value_format="{:.0%}",
        low=0,
        high=1,
    ),
    "handoff_diagram": lambda n: charts.handoff_diagram(
        [("sales", "shipping", 10 * n, "p50 1 h"), ("support", "sales", n, "p50 2 h")][: min(n, 2)],
        charts.DEPARTMENT_COLORS,
        label="handoffs",
    ),
    "lines": lambda n: charts.lines(
        [f"w{i}" for i in range(n)],
        {"sales": [0.1] * n, "support": [None] * n},
        charts.DEPARTMENT_COLORS,
        label="rates",
        y_label="rate",
    ),
}


@pytest.mark.parametrize("name", ALL)
def test_chart_is_valid_svg_with_shapes_and_escaped_text(name: str) -> None:
    root = _parse(ALL[name](5))
    assert _shapes(root) >= 3
    assert root.get("role") == "img" and root.get("aria-label")


@pytest.mark.parametrize("name", ALL)
def test_chart_of_nothing_is_still_valid_svg(name: str) -> None:
    _parse(ALL[name](0))


def test_hover_titles_carry_the_exact_figures() -> None:
    root = _parse(charts.horizontal_bars(["placed"], [1234.0], ["100%"], label="funnel"))
    titles = [e.text for e in root.iter(f"{SVG}title")]
    assert "placed: 1,234" in titles


def test_axis_maximum_is_a_round_number_at_or_above_the_data() -> None:
    assert [charts._nice_max(v) for v in (0, 0.37, 3, 7, 12, 480)] == [1.0, 0.5, 5.0, 10.0, 20.0, 500.0]
