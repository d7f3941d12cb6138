"""Charts as inline SVG strings: the report needs no JavaScript, no CDN and no plotting library.

Every shape carries a <title>, so hovering it in a browser shows the exact figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

OUTCOME_COLORS = {
    "smooth": "#2a9d8f",
    "recovered": "#8ab17d",
    "in_progress": "#e9c46a",
    "unresolved": "#f4a261",
    "lost": "#e76f51",
    "cancelled": "#8d99ae",
}
DEPARTMENT_COLORS = {"sales": "#4e79a7", "shipping": "#f28e2b", "support": "#59a14f"}
FONT = 'font-family="system-ui, sans-serif" font-size="12"'
HALO = ' paint-order="stroke" stroke="#fff" stroke-width="4"'  # keeps labels legible over lines


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(label)}" {FONT}>'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
        f'fill="{fill}"><title>{escape(tip)}</title></rect>'
    )


def _shape(tag: str, attributes: str, tip: str) -> str:
    return f"<{tag} {attributes}><title>{escape(tip)}</title></{tag}>"


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(text)}</text>'


def _nice_max(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def legend(colors: Mapping[str, str], x: float, y: float, width: float) -> list[str]:
    """One row of swatches and names, wrapping when the row is full."""
    parts, cx, cy = [], x, y
    for name, color in colors.items():
        label = name.replace("_", " ")
        step = 22 + 7 * len(label)
        if cx + step > x + width:
            cx, cy = x, cy + 18
        parts.append(f'<rect x="{cx:.1f}" y="{cy - 10:.1f}" width="12" height="12" fill="{color}"/>')
        parts.append(_text(cx + 16, cy, label))
        cx += step
    return parts


def stacked_columns(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    colors: Mapping[str, str],
    *,
    label: str,
    y_label: str,
    width: int = 760,
    height: int = 300,
) -> str:
    """Columns per category, each stacked by series (outcome mix per week)."""
    left, right, top, bottom = 48, 10, 34, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values[i] for values in series.values()) for i in range(len(categories))]
    y_max = _nice_max(max(totals, default=0))
    body = legend({name: colors[name] for name in series}, left, 14, plot_w)
    for tick in range(5):
        value = y_max * tick / 4
        y = top + plot_h - plot_h * tick / 4
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        body.append(_text(left - 6, y + 4, f"{value:,.0f}", "end"))
    slot = plot_w / max(len(categories), 1)
    every = max(1, math.ceil(len(categories) / 10))
    for i, category in enumerate(categories):
        x, base = left + i * slot + slot * 0.1, float(top + plot_h)
        for name, values in series.items():
            h = plot_h * values[i] / y_max
            base -= h
            body.append(_rect(x, base, slot * 0.8, h, colors[name], f"{category}: {values[i]:,.0f} {name}"))
        if i % every == 0:
            body.append(_text(x + slot * 0.4, top + plot_h + 16, category, "middle"))
    body.append(
        _text(12, top + plot_h / 2, y_label, "middle", f' transform="rotate(-90 12 {top + plot_h / 2})"')
    )
    return _svg(width, height, label, body)


def horizontal_bars(
    labels: Sequence[str],
    values: Sequence[float],
    notes: Sequence[str],
    *,
    label: str,
    color: str = "#4e79a7",
    width: int = 760,
) -> str:
    """One bar per label with a note after it (the funnel: orders at each stage and time to it)."""
    left, right, row = 140, 250, 30
    height = row * len(labels) + 10
    plot_w = width - left - right
    v_max = max(values, default=0) or 1
    body = []
    for i, (name, value, note) in enumerate(zip(labels, values, notes, strict=True)):
        y = 5 + i * row
        w = plot_w * value / v_max
        body.append(_text(left - 8, y + 18, name, "end"))
        body.append(_rect(left, y + 4, w, row - 8, color, f"{name}: {value:,.0f}"))
        body.append(_text(left + w + 6, y + 18, note))
    return _svg(width, height, label, body)


def stacked_bars_100(
    labels: Sequence[str],
    shares: Mapping[str, Sequence[float]],
    colors: Mapping[str, str],
    notes: Sequence[str],
    *,
    label: str,
    width: int = 760,
) -> str:
    """Horizontal bars split into shares that add up to one (outcome shares of each journey path)."""
    left, right, row, top = 250, 80, 28, 30
    plot_w = width - left - right
    height = top + row * len(labels) + 6
    body = legend(colors, left, 14, plot_w + right)
    for i, name in enumerate(labels):
        y = top + i * row
        body.append(_text(left - 8, y + 17, name if len(name) <= 38 else name[:36] + "…", "end"))
        x = float(left)
        for series, values in shares.items():
            w = plot_w * (values[i] or 0.0)
            body.append(_rect(x, y + 4, w, row - 8, colors[series], f"{name}: {values[i] or 0:.0%} {series}"))
            x += w
        body.append(_text(left + plot_w + 6, y + 17, notes[i]))
    return _svg(width, height, label, body)


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Mapping[tuple[str, str], float | None],
    *,
    label: str,
    value_format: str,
    low: float,
    high: float,
    hue: int = 174,
    width: int = 760,
    row_title: str = "",
    column_title: str = "",
) -> str:
    """A grid of cells shaded from `low` to `high`; empty cells mean no data."""
    left, top, row_h = 120, 40, 26
    cell_w = min(70.0, (width - left - 10) / max(len(columns), 1))
    height = top + row_h * len(rows) + 10
    body = [
        _text(left, 14, column_title, extra=' font-weight="600"'),
        _text(4, 30, row_title, extra=' font-weight="600"'),
    ]
    for j, column in enumerate(columns):
        body.append(_text(left + j * cell_w + cell_w / 2, top - 6, column, "middle"))
    for i, row in enumerate(rows):
        y = top + i * row_h
        body.append(_text(left - 8, y + 17, row, "end"))
        for j, column in enumerate(columns):
            value = values.get((row, column))
            x = left + j * cell_w
            if value is None:
                body.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell_w - 2:.1f}" height="{row_h - 2}" '
                    'fill="#f4f4f4"><title>no data</title></rect>'
                )
                continue
            strength = min(1.0, max(0.0, (value - low) / ((high - low) or 1)))
            lightness = 94 - 54 * strength
            text_color = "#fff" if lightness < 60 else "#222"
            body.append(
                _rect(
                    x,
                    y,
                    cell_w - 2,
                    row_h - 2,
                    f"hsl({hue} 55% {lightness:.0f}%)",
                    f"{row}, {column}: {value_format.format(value)}",
                )
            )
            body.append(
                _text(
                    x + cell_w / 2 - 1, y + 17, value_format.format(value), "middle", f' fill="{text_color}"'
                )
            )
    return _svg(width, height, label, body)


def handoff_diagram(
    edges: Sequence[tuple[str, str, int, str]],
    colors: Mapping[str, str],
    *,
    label: str,
    width: int = 760,
) -> str:
    """An arc diagram: departments in a row, hand-offs as arcs as thick as their counts.

    Each edge is (from, to, hand-offs, note). Arcs to the right run above the row and arcs to the
    left below it, and longer arcs rise higher, so no two arcs or labels overlap.
    """
    names = list(colors)
    node_r, margin = 42, 110
    gap = (width - 2 * margin) / max(len(names) - 1, 1)
    longest = gap * max(len(names) - 1, 1)
    rise = 0.25  # apex height per pixel of span
    height = int(2 * (node_r + rise * longest + 52))
    row_y = height / 2
    xs = {name: margin + i * gap for i, name in enumerate(names)}
    most = max((count for _, _, count, _ in edges), default=1) or 1
    body = []
    for number, (source, target, count, note) in enumerate(edges):
        if source not in xs or target not in xs or source == target:
            continue
        x1, x2 = xs[source], xs[target]
        side = -1 if x2 > x1 else 1  # -1: above the row (rightwards), 1: below (leftwards)
        stroke = 1.5 + 12 * count / most
        head = 8 + stroke * 1.2
        span = abs(x2 - x1)
        apex = rise * span
        sx, ex = x1 + 14 * (1 if x2 > x1 else -1), x2 - 14 * (1 if x2 > x1 else -1)
        sy, ey = row_y + side * node_r, row_y + side * (node_r + head * 0.5)
        control_y = row_y + side * (node_r + 2 * apex)
        mid_x = (x1 + x2) / 2
        body.append(
            f'<marker id="arrow{number}" viewBox="0 0 10 10" refX="5" refY="5" markerWidth="{head:.1f}" '
            f'markerHeight="{head:.1f}" markerUnits="userSpaceOnUse" orient="auto">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{colors[source]}"/></marker>'
        )
        body.append(
            _shape(
                "path",
                f'd="M{sx:.1f},{sy:.1f} Q{mid_x:.1f},{control_y:.1f} {ex:.1f},{ey:.1f}" fill="none" '
                f'stroke="{colors[source]}" stroke-opacity="0.8" stroke-width="{stroke:.1f}" '
                f'marker-end="url(#arrow{number})"',
                f"{source} → {target}: {count:,} hand-offs, {note}",
            )
        )
        # The curve's apex is halfway to its control point; the label sits just beyond it.
        label_y = row_y + side * (node_r + apex + stroke / 2 + 8) + (12 if side > 0 else -4)
        body.append(_text(mid_x, label_y, f"{source} → {target}: {count:,} · {note}", "middle", HALO))
    for name, x in xs.items():
        body.append(
            _shape("circle", f'cx="{x:.1f}" cy="{row_y:.1f}" r="{node_r}" fill="{colors[name]}"', name)
        )
        body.append(_text(x, row_y + 5, name, "middle", ' fill="#fff" font-weight="600" font-size="14"'))
    return _svg(width, height, label, body)


def lines(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    colors: Mapping[str, str],
    *,
    label: str,
    y_label: str,
    value_format: str = "{:.0%}",
    width: int = 760,
    height: int = 260,
) -> str:
    """A line per series over shared categories (weekly problem rate per department)."""
    left, right, top, bottom = 52, 30, 34, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    y_max = _nice_max(max((v for values in series.values() for v in values if v is not None), default=0))
    body = legend({name: colors[name] for name in series}, left, 14, plot_w)
    for tick in range(5):
        y = top + plot_h - plot_h * tick / 4
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        body.append(_text(left - 6, y + 4, value_format.format(y_max * tick / 4), "end"))
    step = plot_w / max(len(categories) - 1, 1)
    every = max(1, math.ceil(len(categories) / 10))
    for i, category in enumerate(categories):
        if i % every == 0:
            body.append(_text(left + i * step, top + plot_h + 16, category, "middle"))
    for name, values in series.items():
        points = [
            (left + i * step, top + plot_h - plot_h * value / y_max)
            for i, value in enumerate(values)
            if value is not None
        ]
        if not points:
            continue
        path = " ".join(f"{'M' if k == 0 else 'L'}{x:.1f},{y:.1f}" for k, (x, y) in enumerate(points))
        body.append(_shape("path", f'd="{path}" fill="none" stroke="{colors[name]}" stroke-width="2"', name))
        for (x, y), (category, value) in zip(
            points, [(c, v) for c, v in zip(categories, values, strict=True) if v is not None], strict=True
        ):
            tip = f"{name}, week of {category}: {value_format.format(value)}"
            body.append(_shape("circle", f'cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colors[name]}"', tip))
    body.append(
        _text(12, top + plot_h / 2, y_label, "middle", f' transform="rotate(-90 12 {top + plot_h / 2})"')
    )
    return _svg(width, height, label, body)
