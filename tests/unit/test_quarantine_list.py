"""`journeys quarantine list` fits the terminal, whatever the reasons quote."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from rich.console import Console

import journeys.quarantine_cli as quarantine_cli
from streams.quarantine import QuarantineSummary, ReasonGroup, masked_preview

_SEEN = dt.datetime(2026, 11, 28, 16, 1)
_PATTERN = "'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'"


def _group(topic: str, reason: str) -> ReasonGroup:
    return ReasonGroup(reason, topic, reason, 3, _SEEN, _SEEN, [(0, 71), (0, 1250), (1, 1929)])


def _render(summary: QuarantineSummary, width: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    monkeypatch.setattr(quarantine_cli, "out", console)
    quarantine_cli.print_summary(summary, payloads=False)
    return console.export_text().splitlines()


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("runs", [1, 2])
def test_every_column_shows_on_the_terminal(width: int, runs: int, monkeypatch: pytest.MonkeyPatch) -> None:
    topics = [f"touchpoints.run-2026112{run}T160127.shipping" for run in range(runs)]
    groups = [_group(topic, f"event_id: does not match {_PATTERN}") for topic in topics]
    lines = _render(QuarantineSummary(groups, waiting=3 * runs, replayed=0), width, monkeypatch)
    table = [line for line in lines if line[:1] in "┏┃┡│├└"]
    assert table and all(len(line) <= width for line in lines)
    assert all(line.rstrip()[-1] in "┓┃┩│┤┘" for line in table)  # the right border is there
    assert any("sample offsets" in line for line in table)


def test_one_run_names_its_topic_prefix_once(monkeypatch: pytest.MonkeyPatch) -> None:
    groups = [_group("touchpoints.run-20261128T160127.sales", "not valid JSON")]
    lines = _render(QuarantineSummary(groups, waiting=3, replayed=0), 80, monkeypatch)
    assert "topics touchpoints.run-20261128T160127.*" in lines[0]
    assert any("│ sales " in line for line in lines)


def test_filters_that_match_nothing_say_what_waits_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    summary = QuarantineSummary([], waiting=0, replayed=0, waiting_elsewhere=3665)
    text = " ".join(_render(summary, 80, monkeypatch))
    assert "no records waiting in quarantine" in text
    assert "3,665 records wait under other topics or reasons" in text


def test_a_preview_cut_inside_a_phone_shows_none_of_it() -> None:
    # A preview masks the first 1,600 bytes and shows 400 characters. With 4-byte characters before
    # a long phone of 3-byte (full-width) digits, the cut falls inside the phone, within the shown part.
    phone = "".join(chr(0xFF10 + digit) for digit in range(10)) * 13
    payload = json.dumps({"source": "\U0001f600" * 300, "customer": {"phone": phone}}, ensure_ascii=False)
    preview = masked_preview(payload.encode())
    assert phone[:5] not in preview and '"phone": "***' in preview


@pytest.mark.parametrize("width", [80, 120])
def test_copies_of_a_record_are_counted_once_and_shown_in_their_own_column(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = _group("touchpoints.run-20261128T160127.shipping", f"event_id: does not match {_PATTERN}")
    group.copies = 6  # its 3 records, each published again by a second run
    lines = _render(QuarantineSummary([group], waiting=6, replayed=0), width, monkeypatch)
    assert "3 records in quarantine (6 copies)" in lines[0]
    table = [line for line in lines if line[:1] in "┏┃┡│├└"]
    assert all(len(line) <= width for line in lines)
    assert all(line.rstrip()[-1] in "┓┃┩│┤┘" for line in table)
    assert any("copies" in line for line in table)
    assert any(re.search(r"│\s+3 │\s+6 │", line) for line in table)


def test_without_copies_there_is_no_copies_column(monkeypatch: pytest.MonkeyPatch) -> None:
    group = _group("touchpoints.sales", "not valid JSON")
    group.copies = 3
    lines = _render(QuarantineSummary([group], waiting=3, replayed=0), 120, monkeypatch)
    assert "3 records in quarantine" in lines[0] and "copies" not in "\n".join(lines)
