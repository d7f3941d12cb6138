"""How figures read, the same in the HTML report, its charts and the terminal summary.

One function per kind of figure, so a tile and the sentence beside it can never disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any


def share(value: Any) -> str:
    """A share of a whole (0 to 1) as a percentage, "-" when unknown.

    Whole percents in the middle; one decimal below 10 % and above 90 %, where a point matters;
    never "0%" for a share that is not zero nor "100%" for one that is not whole.
    """
    if value is None:
        return "-"
    number = float(value)
    if number == 0 or number == 1:
        return f"{number:.0%}"
    if 0 < number < 0.001:
        return "<0.1%"
    if 0.999 < number < 1:
        return ">99.9%"
    if number < 0.1 or number > 0.9:
        return f"{number:.1%}"
    return f"{number:.0%}"


def number(value: Any, digits: int = 1) -> str:
    """A measured figure (hours, a mean), "-" when unknown."""
    return "-" if value is None else f"{float(value):,.{digits}f}"


def count(n: Any, noun: str, plural: str | None = None) -> str:
    """How many rows a figure was taken over: "1 rating", "312 ratings", "no ratings"."""
    total = int(n or 0)
    many = plural or f"{noun}s"
    if total == 0:
        return f"no {many}"
    return f"{total:,} {noun if total == 1 else many}"


def mean_over(value: Any, n: Any, noun: str, digits: int = 2, plural: str | None = None) -> str:
    """A mean with the rows behind it, "4.21 (312 ratings)"; "- (no ratings)" when there were none.

    Unknown is not zero: a mean over nothing says so instead of looking like a figure.
    """
    return f"{number(value, digits)} ({count(n, noun, plural)})"


def week_labels(weeks: Sequence[dt.date]) -> list[str]:
    """Axis labels for week starts: "02 Mar", or "02 Mar 2026" on all when the weeks span two years or more.

    Without the year, two Marches of a long history would read the same.
    """
    years = {week.year for week in weeks}
    pattern = "%d %b %Y" if len(years) > 1 else "%d %b"
    return [week.strftime(pattern) for week in weeks]
