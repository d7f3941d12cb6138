"""What the loader refused: quarantined records grouped by reason, for `journeys quarantine list`.

Reasons name the offending value ("occurred_at 2029-01-01... is in the future"), so records are
grouped by the reason with its values blanked out; one example reason is kept per group.

A record is counted once however many copies of it wait: each rerun of `journeys run` publishes
the same malformed records again, to topics of its own, and a person fixes each record once.
Copies are rows with the same payload bytes (the same SHA-256), wherever they were read from.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from journeys_core.warehouse import WarehouseUrl, connect_duckdb, connect_postgres, parse_url


class QuarantineError(Exception):
    """A quarantine command cannot run as asked; the message says what to do instead."""


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
# Standalone numbers, dates and sizes; not the digits of a name such as UTF-8, RFC3339 or v1.
_NUMBER = re.compile(r"(?<![\w-])(?:\d[\d,.:T+\-]*\d|\d)(?![\w-])")
_EMAIL = re.compile(r"[^\s\"'@<>(){}\[\],;:]+@[^\s\"'@<>(){}\[\],;:]+")
# The closing quote is optional: a preview cut inside a phone must not show its first digits.
_PII_FIELD = re.compile(r'("(?:email|phone)"\s*:\s*)"(?:[^"\\]|\\.)*"?')


def reason_kind(reason: str) -> str:
    """The reason with its values blanked out: records refused for the same rule group together."""
    return _NUMBER.sub("N", _QUOTED.sub("'…'", reason))


def masked_preview(payload: bytes | None, width: int = 400) -> str:
    """The start of a payload as text, emails and phones masked: previews must not leak PII."""
    if payload is None:
        return "(null)"
    text = payload[: width * 4].decode("utf-8", errors="replace")
    text = _EMAIL.sub("***@***", _PII_FIELD.sub(r'\1"***"', text))
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class ReasonGroup:
    """Distinct quarantined records refused for the same reason, whose latest copy came from one topic."""

    kind: str
    topic: str
    example: str  # one full reason, values included
    count: int = 0  # distinct records (payloads)
    first_seen: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    samples: list[tuple[int, int]] = field(default_factory=list)  # (partition, offset)
    previews: list[str] = field(default_factory=list)
    copies: int = 0  # rows in raw.quarantine: each record once, plus the copies published again


@dataclass(frozen=True)
class QuarantineSummary:
    groups: list[ReasonGroup]
    waiting: int  # rows still in quarantine that match the filters, copies included
    replayed: int  # rows loaded (or found already loaded) by an earlier replay
    waiting_elsewhere: int = 0  # distinct records still in quarantine that the filters leave out

    @property
    def distinct(self) -> int:
        """Records to fix: each payload once, however many copies of it wait."""
        return sum(group.count for group in self.groups)


# One SQL expression for both warehouses: DuckDB's sha256 gives hex text, PostgreSQL's bytes.
# A record without a value (a tombstone) has no payload to hash: all of them count as one.
PAYLOAD_DIGEST = "coalesce(sha256(payload), '')"


@dataclass
class _Copies:
    """One distinct payload: how many rows hold it, and the latest of them, which stands for it."""

    first_seen: dt.datetime
    latest: tuple[Any, ...]  # topic, partition, offset, reason, quarantined_at
    copies: int = 0


@contextmanager
def reading(url: str) -> Iterator[tuple[WarehouseUrl, Any]]:
    """A read-only connection to the warehouse that holds raw.quarantine."""
    target = parse_url(url)
    if target.kind == "duckdb":
        assert target.path is not None
        if not target.path.exists():
            raise QuarantineError(
                f"the DuckDB warehouse {target.path} does not exist: load events first with `journeys ingest`"
            )
        with connect_duckdb(target, read_only=True) as duck:
            require_quarantine(target, duck)
            yield target, duck
        return
    with connect_postgres(target, autocommit=True) as pg:
        require_quarantine(target, pg)
        yield target, pg


def require_quarantine(target: WarehouseUrl, con: Any) -> None:
    """Stop, in one sentence, when nothing was ever loaded into this warehouse."""
    if target.kind == "postgresql":
        # information_schema hides tables a role may not read; the catalog does not, so a role
        # without rights gets "permission denied" (and the role to use) instead of "no table".
        sql = (
            "select count(*) from pg_catalog.pg_tables where schemaname = 'raw' and tablename = 'quarantine'"
        )
    else:
        sql = (
            "select count(*) from information_schema.tables "
            "where table_schema = 'raw' and table_name = 'quarantine'"
        )
    row = con.execute(sql).fetchone()
    if not row or not row[0]:
        raise QuarantineError(
            f"the warehouse {target.redacted()} has no raw.quarantine: load events first with "
            "`journeys ingest`"
        )


def has_replay_columns(con: Any) -> bool:
    """Warehouses loaded before replay existed lack its columns until the loader next starts."""
    row = con.execute(
        "select count(*) from information_schema.columns "
        "where table_schema = 'raw' and table_name = 'quarantine' and column_name = 'replayed_at'"
    ).fetchone()
    return bool(row and row[0])


def filters(target: WarehouseUrl, reason: str | None, topic: str | None) -> tuple[str, list[Any]]:
    """SQL conditions (with this warehouse's placeholders) for the --reason and --topic options."""
    mark = "?" if target.kind == "duckdb" else "%s"
    sql, params = "", []
    if reason:
        sql += f" and position({mark} in lower(reason)) > 0"
        params.append(reason.lower())
    if topic:
        sql += f" and topic = {mark}"
        params.append(topic)
    return sql, params


def summarise(
    url: str,
    *,
    reason: str | None = None,
    topic: str | None = None,
    samples: int = 3,
    previews: bool = False,
) -> QuarantineSummary:
    """Distinct records still in quarantine, grouped by reason and topic, largest group first."""
    with reading(url) as (target, con):
        where, params = filters(target, reason, topic)
        replay_columns = has_replay_columns(con)
        waiting = "replayed_at is null" if replay_columns else "true"
        rows = con.execute(
            f"select topic, kafka_partition, kafka_offset, reason, quarantined_at, {PAYLOAD_DIGEST} "
            f"from raw.quarantine where {waiting}{where} "
            "order by quarantined_at, topic, kafka_partition, kafka_offset",
            params,
        ).fetchall()
        replayed = 0
        if replay_columns:
            found = con.execute(
                f"select count(*) from raw.quarantine where replayed_at is not null{where}", params
            ).fetchone()
            replayed = int(found[0]) if found else 0
        payloads = distinct_payloads(rows)
        elsewhere = 0
        if where:  # so that a mistyped --topic or --reason does not read as an empty quarantine
            every = con.execute(f"select distinct {PAYLOAD_DIGEST} from raw.quarantine where {waiting}")
            elsewhere = len({digest for (digest,) in every.fetchall()} - payloads.keys())
        ordered = group_by_reason(payloads.values(), samples)
        if previews:
            add_previews(target, con, ordered)
    return QuarantineSummary(ordered, len(rows), replayed, elsewhere)


def distinct_payloads(rows: list[tuple[Any, ...]]) -> dict[Any, _Copies]:
    """Rows (oldest first, each ending with its payload's digest) by payload: copies collapse into one."""
    payloads: dict[Any, _Copies] = {}
    for *row, digest in rows:
        copies = payloads.setdefault(digest, _Copies(first_seen=row[4], latest=tuple(row)))
        copies.latest = tuple(row)
        copies.copies += 1
    return payloads


def group_by_reason(payloads: Iterable[_Copies], samples: int) -> list[ReasonGroup]:
    """Distinct records grouped by the reason (values blanked) and topic of their latest copy."""
    groups: dict[tuple[str, str], ReasonGroup] = {}
    for record in payloads:
        row_topic, partition, offset, row_reason, seen = record.latest
        kind = reason_kind(row_reason)
        group = groups.setdefault((kind, row_topic), ReasonGroup(kind, row_topic, row_reason))
        group.count += 1
        group.copies += record.copies
        group.first_seen = min(group.first_seen or record.first_seen, record.first_seen)
        group.last_seen = max(group.last_seen or seen, seen)
        if len(group.samples) < samples:
            group.samples.append((partition, offset))
    return sorted(groups.values(), key=lambda g: (-g.count, g.kind, g.topic))


def add_previews(target: WarehouseUrl, con: Any, groups: list[ReasonGroup]) -> None:
    """The start of each sample's payload, emails and phones masked."""
    mark = "?" if target.kind == "duckdb" else "%s"
    for group in groups:
        for partition, offset in group.samples:
            found = con.execute(
                f"select payload from raw.quarantine where topic = {mark} "
                f"and kafka_partition = {mark} and kafka_offset = {mark}",
                [group.topic, partition, offset],
            ).fetchone()
            group.previews.append(masked_preview(bytes(found[0]) if found and found[0] is not None else None))
