"""Charts as inline SVG strings: the report needs no JavaScript, no CDN and no plotting library.

Every shape carries a <title>, so hovering it in a browser shows the exact figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from html import escape

from journeys.formatting import share

OUTCOME_COLORS = {
    "smooth": "#2a9d8f",
    "recovered": "#8ab17d",
    "silent": "#9d8ec7",
    "in_progress": "#e9c46a",
    "unresolved": "#f4a261",
    "lost": "#e76f51",
    "cancelled": "#8d99ae",
}
# Outcomes the report does not know yet get these greys in turn, so a new value draws, not crashes.
OTHER_COLORS = ("#6c757d", "#adb5bd", "#495057", "#ced4da")
DEPARTMENT_COLORS = {"sales": "#4e79a7", "shipping": "#f28e2b", "support": "#59a14f"}
CHAR_WIDTH = 7.0  # rough width of one character at FONT's 12 px, for laying out labels
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


def _lines_of_text(x: float, y: float, lines: Sequence[str], anchor: str, tip: str, line_h: float) -> str:
    """Several lines in one <text>, the first at `y`; hovering shows `tip`."""
    spans = "".join(
        f'<tspan x="{x:.1f}" dy="{0 if i == 0 else line_h:.1f}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"><title>{escape(tip)}</title>{spans}</text>'


def outcome_colors(outcomes: Iterable[str]) -> dict[str, str]:
    """A colour per outcome: its own for the known ones, greys in turn for any other."""
    colors: dict[str, str] = {}
    others = 0
    for outcome in outcomes:
        if outcome in OUTCOME_COLORS:
            colors[outcome] = OUTCOME_COLORS[outcome]
        else:
            colors[outcome] = OTHER_COLORS[others % len(OTHER_COLORS)]
            others += 1
    return colors


def wrap_label(text: str, width: int, separator: str = " > ") -> list[str]:
    """`text` in lines of at most `width` characters, broken after a `separator`, never shortened.

    Each line but the last ends with the separator (stripped), so it reads as going on. A single
    step longer than `width` gets a line of its own.
    """
    steps = text.split(separator)
    lines: list[str] = []
    current = ""
    for k, step in enumerate(steps):
        piece = step + (separator.rstrip() if k < len(steps) - 1 else "")
        candidate = f"{current} {piece}" if current else piece
        if current and len(candidate) > width:
            lines.append(current)
            current = piece
        else:
            current = candidate
    lines.append(current)
    return lines


def label_every(labels: Sequence[str], room: float) -> int:
    """Show every n-th category label so that the labels shown fit side by side in `room` pixels."""
    if not labels:
        return 1
    widest = CHAR_WIDTH * max(len(label) for label in labels) + 12
    fits = max(1, int(room // widest))
    return max(1, math.ceil(len(labels) / fits))


def _formatter(value_format: str | Callable[[float], str]) -> Callable[[float], str]:
    return value_format.format if isinstance(value_format, str) else value_format


def tick_count(y_max: float) -> int:
    """Steps from 0 to a `_nice_max` axis top so that each is round: 50 in 5 steps of 10, 20 in 4 of 5."""
    leading = y_max / 10.0 ** math.floor(math.log10(y_max)) if y_max > 0 else 1.0
    return 4 if round(leading) == 2 else 5


def _digits(step: float) -> int:
    """Decimals a tick step needs to be shown exactly (up to 3)."""
    return next((d for d in range(3) if abs(round(step, d) - step) < 1e-9), 3)


def percent_ticks(step: float) -> Callable[[float], str]:
    """Percent axis labels with as many decimals as the tick step needs: 2.5% rather than "2%"."""
    digits = _digits(step * 100)
    return lambda value: f"{value:.{digits}%}"


def _nice_max(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


LEGEND_ROW = 18


def _legend_places(names: Sequence[str], x: float, width: float) -> list[tuple[float, int]]:
    """Where each legend entry goes: its x and its row, wrapping when a row is full."""
    places, cx, row = [], x, 0
    for name in names:
        step = 26 + CHAR_WIDTH * len(name)
        if cx + step > x + width and cx > x:
            cx, row = x, row + 1
        places.append((cx, row))
        cx += step
    return places


def legend_rows(colors: Mapping[str, str], width: float) -> int:
    """How many rows `legend` takes in `width` pixels."""
    places = _legend_places([name.replace("_", " ") for name in colors], 0, width)
    return 1 + max((row for _, row in places), default=0)


def legend(colors: Mapping[str, str], x: float, y: float, width: float) -> list[str]:
    """One row of swatches and names, wrapping when the row is full."""
    parts = []
    labels = [name.replace("_", " ") for name in colors]
    for (cx, row), label, color in zip(
        _legend_places(labels, x, width), labels, colors.values(), strict=True
    ):
        cy = y + LEGEND_ROW * row
        parts.append(f'<rect x="{cx:.1f}" y="{cy - 10:.1f}" width="12" height="12" fill="{color}"/>')
        parts.append(_text(cx + 16, cy, label))
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
    steps = tick_count(y_max)
    digits = _digits(y_max / steps)
    for tick in range(steps + 1):
        value = y_max * tick / steps
        y = top + plot_h - plot_h * tick / steps
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        body.append(_text(left - 6, y + 4, f"{value:,.{digits}f}", "end"))
    slot = plot_w / max(len(categories), 1)
    every = label_every(categories, plot_w)
    for i, category in enumerate(categories):
        x, base = left + i * slot + slot * 0.1, float(top + plot_h)
        for name, values in series.items():
            h = plot_h * values[i] / y_max
            base -= h
            tip = f"{category}: {values[i]:,.0f} {name.replace('_', ' ')}"
            body.append(_rect(x, base, slot * 0.8, h, colors[name], tip))
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
    """Horizontal bars split into shares that add up to one (outcome shares of each journey path).

    Labels are never cut: a long one wraps onto more lines (after a " > ") and its row grows.
    """
    left, right, row, line_h = 250, 80, 28, 14
    plot_w = width - left - right
    wrapped = [wrap_label(name, int((left - 16) // CHAR_WIDTH)) for name in labels]
    heights = [max(row, line_h * len(lines) + 14) for lines in wrapped]
    # The legend sits over the bars; when it does not fit there in one row, it takes the full width.
    swatches = {name: colors[name] for name in shares}
    legend_x = left if legend_rows(swatches, plot_w + right) == 1 else 8
    top = 12 + LEGEND_ROW * legend_rows(swatches, width - legend_x)
    height = top + sum(heights) + 6
    body = legend(swatches, legend_x, 14, width - legend_x)
    y = float(top)
    for i, name in enumerate(labels):
        h = heights[i]
        first_line = y + h / 2 + 4 - line_h * (len(wrapped[i]) - 1) / 2
        body.append(_lines_of_text(left - 8, first_line, wrapped[i], "end", name, line_h))
        x = float(left)
        for series, values in shares.items():
            w = plot_w * (values[i] or 0.0)
            tip = f"{name}: {share(values[i] or 0)} {series.replace('_', ' ')}"
            body.append(_rect(x, y + 4, w, h - 8, colors[series], tip))
            x += w
        body.append(_text(left + plot_w + 6, y + h / 2 + 4, notes[i]))
        y += h
    return _svg(width, height, label, body)


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Mapping[tuple[str, str], float | None],
    *,
    label: str,
    value_format: str | Callable[[float], str],
    low: float,
    high: float,
    hue: int = 174,
    width: int = 760,
    row_title: str = "",
    column_title: str = "",
    tips: Mapping[tuple[str, str], str] | None = None,
) -> str:
    """A grid of cells shaded from `low` to `high`; empty cells mean no data.

    `tips` adds to a cell's hover text, e.g. how many rows its value was taken over.
    """
    fmt = _formatter(value_format)
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
                    f"{row}, {column}: {fmt(value)}"
                    + (f" ({tips[(row, column)]})" if tips and (row, column) in tips else ""),
                )
            )
            body.append(_text(x + cell_w / 2 - 1, y + 17, fmt(value), "middle", f' fill="{text_color}"'))
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
    value_format: str | Callable[[float], str] | None = None,
    tip_format: Callable[[float], str] = share,
    notes: Mapping[str, Sequence[str | None]] | None = None,
    notes_legend: str = "",
    width: int = 760,
    height: int = 260,
) -> str:
    """A line per series over shared categories (weekly problem rate per department).

    A None value is a gap in its line. With a note for it in `notes`, the gap gets a hollow ring under
    the axis whose hover text is the note (a week with too few orders to plot a rate, say why), and
    `notes_legend` explains the rings beside the legend. Without `value_format`, the axis is in percent.
    """
    has_notes = any(note is not None for values in (notes or {}).values() for note in values)
    # Rings sit in a strip under the axis, one row per series: inside the plot they would read as data.
    strip = 6 + 5 * len(series) if has_notes else 0
    left, right, top, bottom = 52, 30, 34, 40
    height += strip
    plot_w, plot_h = width - left - right, height - top - bottom - strip
    y_max = _nice_max(max((v for values in series.values() for v in values if v is not None), default=0))
    steps = tick_count(y_max)
    axis_format = percent_ticks(y_max / steps) if value_format is None else _formatter(value_format)
    body = legend({name: colors[name] for name in series}, left, 14, plot_w)
    if notes_legend and has_notes:
        x = width - right - CHAR_WIDTH * len(notes_legend) - 16
        body.append(f'<circle cx="{x:.1f}" cy="10" r="3.5" fill="#fff" stroke="#666" stroke-width="1.2"/>')
        body.append(_text(x + 8, 14, notes_legend))
    for tick in range(steps + 1):
        y = top + plot_h - plot_h * tick / steps
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        body.append(_text(left - 6, y + 4, axis_format(y_max * tick / steps), "end"))
    step = plot_w / max(len(categories) - 1, 1)
    every = label_every(categories, plot_w)
    for i, category in enumerate(categories):
        if i % every == 0:
            body.append(_text(left + i * step, top + plot_h + strip + 16, category, "middle"))
    for number, (name, values) in enumerate(series.items()):
        points = [
            (left + i * step, top + plot_h - plot_h * (value or 0.0) / y_max, category, value)
            for i, (category, value) in enumerate(zip(categories, values, strict=True))
        ]
        path, pen_down = [], False
        for x, y, _, value in points:
            if value is None:
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
            pen_down = True
        if path:
            body.append(
                _shape(
                    "path", f'd="{" ".join(path)}" fill="none" stroke="{colors[name]}" stroke-width="2"', name
                )
            )
        series_notes = (notes or {}).get(name) or [None] * len(categories)
        for (x, y, category, value), note in zip(points, series_notes, strict=True):
            if value is not None:
                tip = f"{name}, week of {category}: {tip_format(value)}"
                body.append(_shape("circle", f'cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colors[name]}"', tip))
            elif note is not None:
                ring_y = top + plot_h + 6 + 5 * number
                body.append(
                    _shape(
                        "circle",
                        f'cx="{x:.1f}" cy="{ring_y:.1f}" r="2.5" fill="#fff" stroke="{colors[name]}" '
                        'stroke-width="1.2" data-not-plotted="1"',
                        f"{name}, week of {category}: {note}",
                    )
                )
    body.append(
        _text(12, top + plot_h / 2, y_label, "middle", f' transform="rotate(-90 12 {top + plot_h / 2})"')
    )
    return _svg(width, height, label, body)
