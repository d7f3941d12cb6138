"""Typed results of a gate: one outcome per expectation, read out of GX's checkpoint result.

The CLI, the pipeline, the warehouse results table and the tests read these instead of GX's
nested dictionaries, whose shape differs per expectation type. (No GX import here: the command
line imports this module, and GX takes seconds to import.)
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

Stage = Literal["raw", "marts"]
STAGES: Final[tuple[Stage, ...]] = ("raw", "marts")
EXAMPLES: Final = 5  # offending values or rows kept per expectation


def plain(value: Any) -> Any:
    """A value JSON can carry: numbers, strings, booleans and null stay, the rest becomes text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)[:64].decode("utf-8", "replace")
    return str(value)


@dataclass(frozen=True)
class ExpectationOutcome:
    """How one expectation fared in one run."""

    suite: str  # e.g. "raw.touchpoints"
    name: str  # e.g. "raw.touchpoints.event_id_unique"
    expectation_type: str  # GX's, e.g. "expect_column_values_to_be_unique"
    description: str
    column: str | None
    severity: str  # critical | warning | info
    success: bool
    unexpected_count: int | None = None  # rows that broke it, when it is about rows
    element_count: int | None = None  # rows looked at
    observed_value: str | None = None  # e.g. the row count for a volume check
    examples: tuple[Any, ...] = ()  # a few offending values or rows, JSON-safe
    exception: str | None = None  # the expectation could not be evaluated

    @property
    def critical(self) -> bool:
        return self.severity == "critical"

    def examples_json(self) -> str | None:
        return json.dumps(list(self.examples), default=str) if self.examples else None


@dataclass(frozen=True)
class CheckResult:
    """One gate run: every outcome, where its Data Docs are, whether it may let data through."""

    stage: str
    run_id: str
    run_time: dt.datetime
    outcomes: tuple[ExpectationOutcome, ...]
    data_docs: Path | None = None
    stored: bool = False

    @property
    def failures(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.success)

    @property
    def critical_failures(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.failures if o.critical)

    @property
    def warnings(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.failures if not o.critical)

    @property
    def passed(self) -> bool:
        """True when no critical expectation failed: the gate lets the data through."""
        return not self.critical_failures

    def headline(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        failed = ", ".join(o.name for o in self.critical_failures)
        critical = _count(len(self.critical_failures), "critical failure")
        text = (
            f"{self.stage} gate {verdict}: {len(self.outcomes) - len(self.failures)} of "
            f"{len(self.outcomes)} expectations met, {critical}, {_count(len(self.warnings), 'warning')}"
        )
        return f"{text} ({failed})" if failed else text


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _severity(config: Any) -> str:
    severity = getattr(config, "severity", None) or "critical"
    return str(getattr(severity, "value", severity))


def _exception(validation: Any) -> str | None:
    """GX keeps exceptions either flat or per metric; return the first message, if any."""
    info = validation.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "the expectation raised an exception")
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "a metric raised an exception")
    return None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def outcome_of(suite: str, validation: Any) -> ExpectationOutcome:
    """One GX ExpectationValidationResult as an ExpectationOutcome."""
    config = validation.expectation_config
    result: dict[str, Any] = dict(validation.result or {})
    kind = str(config.type)
    meta = config.meta or {}
    examples: list[Any] = []
    unexpected = _int(result.get("unexpected_count"))
    observed = result.get("observed_value")
    if "details" in result and isinstance(result["details"], dict):
        examples = list(result["details"].get("unexpected_rows") or [])
        unexpected = _int(observed)
    elif result.get("partial_unexpected_list"):
        # The first few offending values, each once (GX's per-value counts cover only those few).
        for value in map(plain, result["partial_unexpected_list"]):
            if value not in examples:
                examples.append(value)
    return ExpectationOutcome(
        suite=suite,
        name=str(meta.get("name", kind)),
        expectation_type=kind,
        description=str(config.description or ""),
        column=config.kwargs.get("column"),
        severity=_severity(config),
        success=bool(validation.success),
        unexpected_count=unexpected,
        element_count=_int(result.get("element_count")),
        observed_value=None if observed is None else str(plain(observed)),
        examples=tuple(examples[:EXAMPLES]),
        exception=_exception(validation),
    )


def outcomes_of(checkpoint_result: Any) -> Iterator[ExpectationOutcome]:
    """Every expectation of every suite a GX CheckpointResult ran."""
    for suite_result in checkpoint_result.run_results.values():
        for validation in suite_result.results:
            yield outcome_of(str(suite_result.suite_name), validation)
