"""One sink per warehouse; `open_sink` picks it from the warehouse URL."""

from __future__ import annotations

from journeys_core.warehouse import parse_url
from streams.sinks.base import Sink


def open_sink(url: str, *, duckdb_memory_limit: str | None = None) -> Sink:
    target = parse_url(url)
    if target.kind == "duckdb":
        from streams.sinks.duckdb import DuckDBSink

        return DuckDBSink(target, memory_limit=duckdb_memory_limit)
    from streams.sinks.postgres import PostgresSink

    return PostgresSink(target)
