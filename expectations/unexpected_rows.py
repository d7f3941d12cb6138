"""GX's SQL expectation ("this query returns no rows"), keeping a few of the rows as examples.

GX's own `UnexpectedRowsExpectation` returns only the row count unless the whole checkpoint runs
with result format COMPLETE, which would also make every column expectation fetch all of its
unexpected values. People fixing data need to see which rows broke a rule, so this subclass
keeps the first few rows (as JSON-safe values) whatever the result format.
"""

from __future__ import annotations

from typing import Any

from great_expectations.expectations.core.unexpected_rows_expectation import UnexpectedRowsExpectation

from expectations.results import EXAMPLES, plain


class UnexpectedRowsWithExamples(UnexpectedRowsExpectation):
    """The rows `unexpected_rows_query` returns break the expectation; the first few are kept."""

    def _validate(
        self,
        metrics: dict[str, Any],
        runtime_configuration: dict[str, Any] | None = None,
        execution_engine: Any = None,
    ) -> dict[str, Any]:
        outcome = super()._validate(metrics, runtime_configuration, execution_engine)
        result: dict[str, Any] = dict(outcome)
        rows = metrics.get("unexpected_rows_query.table") or []
        details = dict(result.get("result", {}))
        details["details"] = {
            "unexpected_rows": [{key: plain(value) for key, value in row.items()} for row in rows[:EXAMPLES]]
        }
        result["result"] = details
        return result
