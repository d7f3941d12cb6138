"""Seeded simulator of sales, shipping and support touchpoints, with the ground truth behind them.

It exists so every stage can be built and scored without real department systems: the stream
follows contract v1 (`streams.contract`), carries the identity fragments each department really
has, injects faults at configurable rates, and records the true customer of every event and the
true outcome of every journey (the rules of docs/metrics.md).

How it runs: a discrete-event loop over a queue keyed by arrival time. When the loop reaches
an order it draws that order's whole journey (sales, shipping, support) from one seeded RNG
and queues its events; records leave the queue in publish order. Faults (arrival jitter, duplicates,
malformed records) come from a second RNG, so changing fault rates never changes the events
themselves: a faulty stream is the clean stream plus faults.

Ground-truth rules worth knowing (docs/metrics.md, made exact):

- "now" (`as_of`) is the end of the window, midnight UTC at `start + days`; no event occurs at
  or after it. A journey is undelivered "7 days after the promise" when the as-of date is more
  than 7 days after `promised_delivery_date`.
- Dates of deliveries are UTC dates; deliveries happen 08:00-20:00 UTC, so the date is the same
  in every offset the feeds use.
- At most one CSAT per journey (after its last resolved ticket, or a post-delivery survey), so
  "CSAT >= 4" is never ambiguous.
- A support ticket that omits the order id is always about the customer's latest order placed
  before it opened, within 60 days (otherwise the customer names the order), so the
  attribution rule recovers the true order. Tickets from prospects before their first order
  carry no order and belong to the customer only.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import heapq
import itertools
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import msgspec

from streams.contract import ATTRIBUTES, DEPARTMENTS, SCHEMA_VERSION

__all__ = [
    "OUTCOMES",
    "JourneyTruth",
    "SimulatedRecord",
    "Simulation",
    "SimulationConfig",
    "Truth",
    "journey_outcome",
    "measure",
    "normalise_email",
    "normalise_phone",
    "read_truth",
    "simulate",
    "write_truth",
]

_T = TypeVar("_T")

OUTCOMES: Final = ("cancelled", "unresolved", "smooth", "recovered", "lost", "silent", "in_progress")
# Days after delivery (or after the last touchpoint of an undelivered journey without a promise)
# after which an outcome is final: dbt's var journeys__settle_days.
SETTLE_DAYS: Final = 30

_DAY: Final = 86_400
_HOUR: Final = 3_600
_EPOCH: Final = dt.date(1970, 1, 1)


# ---------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that shapes a run; same config (with a fixed `start`) -> byte-identical stream."""

    customers: int = 2000
    days: int = 90
    seed: int = 42
    start: dt.date | None = None
    # Follow-on data sets of an endless feed (`simulate --follow`): epoch k > 0 draws its own
    # customers, emails, phones, orders and tickets, which never collide with another epoch's.
    epoch: int = 0
    # sales
    lead_rate: float = 0.3  # new customers who first appear as a lead
    lead_conversion_rate: float = 0.85  # leads that go on to order
    quote_rate: float = 0.1  # orders preceded by a quote
    sales_cancel_rate: float = 0.04
    repeat_rate: float = 0.55  # chance of another order after a good journey
    repeat_gap_days: float = 18.0  # mean days between a customer's orders
    refund_rate: float = 0.6  # damaged or lost parcels that sales settles with a refund
    return_rate: float = 0.06
    # shipping
    shipping_late_rate: float = 0.08
    shipping_damage_rate: float = 0.03
    failed_attempt_rate: float = 0.06
    parcel_lost_rate: float = 0.01
    # Orders whose carrier's clock is days behind: dispatch and delivery are recorded before the
    # order was placed, as real source systems sometimes do (0 draws nothing, so streams stay equal).
    carrier_clock_skew_rate: float = 0.0
    # support
    support_first_reply_hours: float = 4.0  # median
    support_resolution_hours: float = 30.0  # median, from opening
    support_escalation_rate: float = 0.15
    support_resolve_rate: float = 0.93  # tickets that ever get resolved
    support_reopen_rate: float = 0.08
    support_order_id_rate: float = 0.5  # tickets where the customer quotes the order id
    ticket_rate: float = 0.05  # orders with a ticket unrelated to delivery problems
    csat_response_rate: float = 0.5  # resolved tickets that get a CSAT answer
    survey_rate: float = 0.15  # delivered orders without tickets that get a survey answer
    checkin_rate: float = 0.25  # problem-free journeys that get a proactive check-in
    # faults (each event gets at most one, so these must add up to <= 1)
    duplicate_rate: float = 0.01
    late_arrival_rate: float = 0.01
    out_of_order_rate: float = 0.02
    malformed_rate: float = 0.005

    def __post_init__(self) -> None:
        if self.customers < 0:
            raise ValueError(f"customers must be >= 0, got {self.customers}")
        if self.days < 1:
            raise ValueError(f"days must be >= 1, got {self.days}")
        if self.epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {self.epoch}")
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if spec.name.endswith("_rate") and not 0.0 <= value <= 1.0:
                raise ValueError(f"{spec.name} must be between 0 and 1, got {value}")
            if spec.name.endswith(("_hours", "_days")) and value <= 0:
                raise ValueError(f"{spec.name} must be positive, got {value}")
        faults = self.duplicate_rate + self.late_arrival_rate + self.out_of_order_rate + self.malformed_rate
        if faults > 1.0:
            raise ValueError(f"fault rates add up to {faults:g}; each event gets at most one fault")

    def resolved_start(self) -> dt.date:
        """The first day of the window; without `start`, `days` days before today (UTC)."""
        if self.start is not None:
            return self.start
        return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=self.days)

    def window(self) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) in UTC; `end` is also the "now" the ground truth is computed at."""
        start = dt.datetime.combine(self.resolved_start(), dt.time(), dt.UTC)
        return start, start + dt.timedelta(days=self.days)

    def clean(self) -> SimulationConfig:
        """The same run without injected faults (same events, in occurrence order)."""
        return dataclasses.replace(
            self, duplicate_rate=0.0, late_arrival_rate=0.0, out_of_order_rate=0.0, malformed_rate=0.0
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the start resolved so the file alone reproduces the run."""
        data = dataclasses.asdict(self)
        start, end = self.window()
        data["start"] = start.date().isoformat()
        data["end"] = end.isoformat()
        data["as_of"] = end.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimulationConfig:
        names = {spec.name for spec in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in names}
        if isinstance(values.get("start"), str):
            values["start"] = dt.date.fromisoformat(values["start"])
        return cls(**values)


# ---------------------------------------------------------------------------------------------
# Records and truth


@dataclass(frozen=True, slots=True)
class SimulatedRecord:
    """One Kafka record as published, plus what the simulator knows about it."""

    department: str  # topic suffix: "sales" | "shipping" | "support"
    key: bytes  # order id when known, else the customer id / email / phone fragment
    value: bytes  # JSON bytes (deliberately broken when kind == "malformed")
    event_id: str | None  # None when a malformed record has no parseable id
    true_customer: str  # the real customer behind the event
    kind: str  # "event" | "duplicate" | "malformed"


_SET_FIELDS: Final = tuple(
    getattr(SimulatedRecord, spec.name).__set__ for spec in dataclasses.fields(SimulatedRecord)
)


def _new_record(
    department: str, key: bytes, value: bytes, event_id: str | None, true_customer: str, kind: str
) -> SimulatedRecord:
    """SimulatedRecord(...) through its slot descriptors: twice as fast as the frozen __init__,
    which matters at one record per event."""
    record: SimulatedRecord = object.__new__(SimulatedRecord)
    set_department, set_key, set_value, set_event_id, set_true_customer, set_kind = _SET_FIELDS
    set_department(record, department)
    set_key(record, key)
    set_value(record, value)
    set_event_id(record, event_id)
    set_true_customer(record, true_customer)
    set_kind(record, kind)
    return record


@dataclass(frozen=True)
class JourneyTruth:
    """The true outcome of one order, with the problems that led to it."""

    customer: str
    outcome: str
    problems: tuple[str, ...] = ()


@dataclass
class Truth:
    """What really happened: true customer per event, outcome per journey, identity per customer.

    `tickets` maps each ticket id to its true customer and order (None: about no order).
    """

    config: SimulationConfig
    events: dict[str, str] = field(default_factory=dict)
    journeys: dict[str, JourneyTruth] = field(default_factory=dict)
    customers: dict[str, dict[str, str]] = field(default_factory=dict)
    tickets: dict[str, dict[str, str | None]] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)

    def outcome_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for journey in self.journeys.values():
            counts[journey.outcome] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "events": self.events,
            "journeys": {
                order_id: {"customer": j.customer, "outcome": j.outcome, "problems": list(j.problems)}
                for order_id, j in self.journeys.items()
            },
            "customers": self.customers,
            "tickets": self.tickets,
            "records": self.records,
            "outcomes": self.outcome_counts(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Truth:
        return cls(
            config=SimulationConfig.from_dict(data["config"]),
            events=dict(data["events"]),
            journeys={
                order_id: JourneyTruth(j["customer"], j["outcome"], tuple(j.get("problems", ())))
                for order_id, j in data["journeys"].items()
            },
            customers={key: dict(value) for key, value in data.get("customers", {}).items()},
            tickets={key: dict(value) for key, value in data.get("tickets", {}).items()},
            records=dict(data.get("records", {})),
        )


def write_truth(path: str | os.PathLike[str], truth: Truth) -> None:
    """Write the ground truth as JSON so tests and benchmarks can score stitching and marts."""
    with open(path, "wb") as handle:
        handle.write(msgspec.json.encode(truth.to_dict()))
        handle.write(b"\n")


def read_truth(path: str | os.PathLike[str]) -> Truth:
    """Read a file written by `write_truth`."""
    with open(path, "rb") as handle:
        return Truth.from_dict(msgspec.json.decode(handle.read()))


# ---------------------------------------------------------------------------------------------
# Identity helpers


def normalise_email(email: str) -> str:
    """The form the simulator guarantees is identical for one person: trimmed, lower case."""
    return email.strip().lower()


def normalise_phone(phone: str) -> str:
    """E.164 (+44...) from the UK spellings the simulator emits, including "+44 (0)20 ..."."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if not phone.strip().startswith("+"):
        if digits.startswith("00"):  # international prefix
            digits = digits[2:]
        elif digits.startswith("0"):  # national trunk prefix
            digits = "44" + digits[1:]
    if digits.startswith("440"):
        digits = "44" + digits[3:]
    return "+" + digits


# ---------------------------------------------------------------------------------------------
# Journey outcome (the rules of docs/metrics.md, on the UTC calendar the simulator writes in)

Seen = tuple[int, str, Mapping[str, Any]]  # (occurred unix seconds, event_type, attributes)


def _classify(events: Iterable[Seen], as_of: dt.date, later_order: bool) -> tuple[str, tuple[str, ...]]:
    """Outcome and problems of one journey; each ticket's events must come in occurrence order."""
    cancelled = refund = returned = damaged = False
    promised: dt.date | None = None
    delivered: dt.date | None = None
    last: dt.date | None = None
    tickets: dict[str, bool] = {}  # ticket id -> still open
    csat: int | None = None
    for occurred, event_type, attrs in events:
        last = _EPOCH + dt.timedelta(days=occurred // _DAY)
        if event_type == "sales.order_placed":
            promised = dt.date.fromisoformat(attrs["promised_delivery_date"])
        elif event_type == "sales.order_cancelled":
            cancelled = True
        elif event_type == "sales.refund_issued":
            refund = True
        elif event_type == "shipping.return_received":
            returned = True
        elif event_type == "shipping.delivered":
            damaged = damaged or bool(attrs["damaged"])
            if delivered is None:
                delivered = _EPOCH + dt.timedelta(days=occurred // _DAY)
        elif event_type in ("support.ticket_opened", "support.ticket_reopened"):
            tickets[attrs["ticket_id"]] = True
        elif event_type == "support.ticket_resolved":
            tickets[attrs["ticket_id"]] = False
        elif event_type == "support.csat_submitted":
            csat = int(attrs["score"])  # the latest one wins (the simulator sends at most one)
    late = delivered is not None and promised is not None and delivered > promised
    found = []
    if late:
        found.append("late")
    if damaged:
        found.append("damaged")
    if tickets:
        found.append("ticket")
    if refund:
        found.append("refund")
    if returned:
        found.append("return")
    problems = tuple(found)
    if cancelled:
        return "cancelled", problems
    if delivered is None and promised is not None:
        overdue = (as_of - promised).days > 7
    else:  # no promise known: undelivered for the settle window after the last touchpoint
        overdue = delivered is None and last is not None and (as_of - last).days > SETTLE_DAYS
    if any(tickets.values()) or overdue:
        return "unresolved", problems
    if delivered is not None and promised is not None and not problems:
        return "smooth", problems
    if problems and ((csat is not None and csat >= 4) or later_order):
        return "recovered", problems
    if problems and ((csat is not None and csat <= 2) or refund):
        # "no later order within 90 days" holds here: any later order made it "recovered" above
        return "lost", problems
    if delivered is None or (as_of - delivered).days <= SETTLE_DAYS:
        return "in_progress", problems
    heard = bool(tickets) or refund or returned or csat is not None
    if problems and not heard:
        return "silent", problems
    return ("recovered" if problems else "smooth"), problems


def journey_outcome(events: Iterable[Seen], *, as_of: dt.date, later_order: bool) -> str:
    """The outcome of one journey (docs/metrics.md) from its (occurred, type, attributes) events.

    `later_order`: the customer placed another order after this one (before `as_of`).
    """
    return _classify(sorted(events, key=lambda seen: seen[0]), as_of, later_order)[0]


# ---------------------------------------------------------------------------------------------
# Vocabulary

_FIRST_NAMES: Final = (
    "olivia", "amelia", "isla", "ava", "mia", "ivy", "lily", "sophia", "grace", "freya", "evie",
    "ella", "poppy", "charlotte", "emily", "ruby", "alice", "harper", "daisy", "chloe", "noah",
    "oliver", "george", "arthur", "leo", "harry", "oscar", "archie", "henry", "theodore", "jack",
    "charlie", "freddie", "alfie", "thomas", "james", "william", "joshua", "samuel", "isaac",
    "mohammed", "amir", "priya", "aisha", "zara", "ravi", "wei", "mei", "kofi", "ama", "siobhan",
    "niamh", "owen", "rhys", "callum",
)  # fmt: skip
_LAST_NAMES: Final = (
    "smith", "jones", "taylor", "brown", "williams", "wilson", "johnson", "davies", "robinson",
    "wright", "thompson", "evans", "walker", "white", "roberts", "green", "hall", "wood",
    "jackson", "clarke", "patel", "khan", "lewis", "james", "phillips", "mason", "mitchell",
    "rose", "davis", "rodriguez", "cox", "alexander", "morgan", "hughes", "edwards", "hill",
    "moore", "clark", "harrison", "scott", "young", "morris", "turner", "baker", "ahmed", "ali",
    "begum", "okafor", "mensah", "nowak", "kowalski", "murphy", "kelly", "byrne", "campbell",
    "stewart", "macdonald",
)  # fmt: skip
_DOMAINS: Final = ("example.com", "example.org", "example.net", "mail.example", "inbox.test")
_DOMAIN_CUM: Final = (40, 60, 75, 90, 100)

# Ofcom's ranges reserved for drama: numbers that cannot belong to anyone. Each prefix is the
# national number without its leading 0, 7 digits; 3 more digits make 1,000 numbers per range.
_PHONE_RANGES: Final = (
    ("2079460", 2),  # 020 7946 0xxx London
    ("1134960", 3),  # 0113 496 0xxx Leeds
    ("1144960", 3),
    ("1154960", 3),
    ("1164960", 3),
    ("1174960", 3),
    ("1184960", 3),
    ("1214960", 3),
    ("1314960", 3),
    ("1414960", 3),
    ("1514960", 3),
    ("1614960", 3),
    ("1914980", 3),
    ("2896496", 2),  # 028 9649 6xxx Belfast
    ("2920180", 2),  # 029 2018 0xxx Cardiff
    ("1632960", 4),  # 01632 960xxx
    ("7700900", 4),  # 07700 900xxx mobile
)

_HOUR_WEIGHTS: Final = (
    0.3, 0.15, 0.1, 0.08, 0.08, 0.15, 0.4, 0.8, 1.1, 1.3, 1.4, 1.5,
    1.7, 1.6, 1.4, 1.3, 1.3, 1.4, 1.6, 1.9, 2.1, 1.9, 1.3, 0.7,
)  # fmt: skip
_HOUR_CUM: Final = tuple(itertools.accumulate(_HOUR_WEIGHTS))
_WEEKDAY_WEIGHTS: Final = (1.12, 1.0, 0.98, 0.97, 0.92, 0.78, 1.05)  # Monday .. Sunday
_WEEKDAY_MAX: Final = max(_WEEKDAY_WEIGHTS)

_ORDER_CHANNELS: Final = ("web", "app", "phone", "marketplace")
_ORDER_CHANNEL_CUM: Final = (58, 85, 95, 100)
_CARRIERS: Final = ("royal_mail", "dpd", "evri", "dhl")
_CARRIER_CUM: Final = (35, 65, 90, 100)
_CARRIER_DAMAGE: Final = {"royal_mail": 1.0, "dpd": 0.7, "evri": 1.5, "dhl": 0.8}
_WAREHOUSES: Final = ("MAN1", "BHX2", "LON3")
_LEAD_CHANNELS: Final = ("web_form", "referral", "paid_search", "social", "trade_show")
_TICKET_CHANNELS: Final = ("email", "phone", "chat", "web")
_TICKET_CHANNEL_CUM: Final = (45, 70, 90, 100)
_CANCEL_REASONS: Final = ("customer_request", "payment_failed", "out_of_stock", "fraud_suspected")
_CANCEL_CUM: Final = (50, 70, 90, 100)
_RETURN_REASONS: Final = ("changed_mind", "wrong_size", "not_as_described", "faulty")
_ATTEMPT_OUTCOMES: Final = ("failed_no_one_home", "failed_address", "failed_other")
_ATTEMPT_CUM: Final = (70, 88, 100)
_SPONTANEOUS: Final = ("billing", "product", "account", "other")
_SPONTANEOUS_CUM: Final = (35, 70, 80, 100)
_OWNER: Final = {
    "delivery": "shipping",
    "damaged": "shipping",
    "billing": "sales",
    "refund": "sales",
    "product": "sales",
    "account": "support",
    "other": "support",
}
_SUBJECTS: Final = {
    "delivery": "Where is my order?",
    "damaged": "Item arrived damaged",
    "billing": "Charged twice",
    "refund": "Still waiting for my refund",
    "product": "Question about my product",
    "account": "Cannot log in",
    "other": "General question",
}
_DEPARTMENT_OF: Final = {name: name.partition(".")[0] for name in ATTRIBUTES}
_REQUIRED: Final = {
    name: tuple(spec.name for spec in msgspec.structs.fields(cls) if spec.required)
    for name, cls in ATTRIBUTES.items()
}

_HHMM: Final = tuple(f"T{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
_SS: Final = tuple(f"{s:02d}" for s in range(60))
_MS: Final = tuple(f".{ms:03d}Z" for ms in range(1000))


class _Random(random.Random):
    """random.Random with float-based draws: the stdlib randrange and choice cost ~4x more."""

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None:
            return int(self.random() * start)
        return start + int(self.random() * (stop - start))

    def one(self, seq: Sequence[_T]) -> _T:
        """random.choice, float-based."""
        return seq[int(self.random() * len(seq))]

    def pick(self, options: Sequence[_T], cum_weights: Sequence[float]) -> _T:
        """One of `options`, weighted by cumulative weights (random.choices without the list)."""
        return options[bisect.bisect(cum_weights, self.random() * cum_weights[-1])]


_VARIANT: Final = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


class _Ids:
    """UUIDv4 text from a seeded RNG, formatted 64 at a time because formatting dominates.

    The n-th id equals str(uuid.UUID(int=rng.getrandbits(128), version=4)) for the n-th
    128-bit draw: getrandbits(8192) fills the same 32-bit words, least significant first.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._hex = ""
        self._end = 0

    def next(self) -> str:
        end = self._end
        if end == 0:
            self._hex = f"{self._rng.getrandbits(8192):02048x}"
            end = 2048
        h, q = self._hex, end - 32
        self._end = q
        return (
            f"{h[q : q + 8]}-{h[q + 8 : q + 12]}-4{h[q + 13 : q + 16]}-"
            f"{_VARIANT[h[q + 16]]}{h[q + 17 : q + 20]}-{h[q + 20 : end]}"
        )


def _weekday(day: int) -> int:
    return (day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0


def _skip_sunday(day: int) -> int:
    return day + 1 if _weekday(day) == 6 else day


def _add_working_days(day: int, count: int) -> int:
    for _ in range(count):
        day = _skip_sunday(day + 1)
    return day


class _Clock:
    """RFC 3339 text for unix seconds, with per-day caching: datetime.isoformat is too slow."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}
        self._bst: dict[int, tuple[int, int]] = {}  # day -> British Summer Time of its year

    def day(self, day: int) -> str:
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = (_EPOCH + dt.timedelta(days=day)).isoformat()
        return text

    def utc(self, ts: int, suffix: str = "Z") -> str:
        day, sec = divmod(ts, _DAY)
        return (self._days.get(day) or self.day(day)) + _HHMM[sec // 60] + _SS[sec % 60] + suffix

    def utc_offset(self, ts: int) -> str:
        day, sec = divmod(ts, _DAY)
        return (self._days.get(day) or self.day(day)) + _HHMM[sec // 60] + _SS[sec % 60] + "+00:00"

    def utc_ms(self, ts: int) -> str:
        """With milliseconds, as carrier APIs report them (scrambled from ts: no RNG draw)."""
        day, sec = divmod(ts, _DAY)
        return (
            (self._days.get(day) or self.day(day)) + _HHMM[sec // 60] + _SS[sec % 60] + _MS[ts * 7919 % 1000]
        )

    def london(self, ts: int) -> str:
        """Europe/London wall time: +01:00 from the last Sunday of March to that of October."""
        bounds = self._bst.get(ts // _DAY)
        if bounds is None:
            year = (_EPOCH + dt.timedelta(days=ts // _DAY)).year
            bounds = (_last_sunday_1am(year, 3), _last_sunday_1am(year, 10))
            self._bst[ts // _DAY] = bounds
        if bounds[0] <= ts < bounds[1]:
            return self.utc(ts + _HOUR, "+01:00")
        return self.utc(ts, "+00:00")


def _last_sunday_1am(year: int, month: int) -> int:
    last = dt.date(year, month, 31)
    sunday = last - dt.timedelta(days=(last.weekday() + 1) % 7)
    return (sunday - _EPOCH).days * _DAY + _HOUR


# ---------------------------------------------------------------------------------------------
# The run


class _Envelope(msgspec.Struct, gc=False):
    """Contract v1 envelope in its field order; a Struct encodes faster than a dict."""

    event_id: str
    event_type: str
    schema_version: int
    occurred_at: str
    source: str
    customer: dict[str, str]
    order_id: str | None
    attributes: dict[str, Any]


@dataclass(slots=True)
class _Customer:
    cid: str
    email: str  # normalised
    phone: str  # E.164
    key: bytes  # Kafka key for customer-level sales events
    emails: tuple[str, ...]  # spellings customers type (case, surrounding whitespace)
    phones: tuple[str, ...]  # spellings of the same number
    webshop: dict[str, str]  # sales identities, shared by events (never mutated)
    payments: dict[str, str]
    crm: tuple[dict[str, str], ...]
    currency: str
    label_seen: int = 2**62  # when the phone first appeared on a shipping event
    problem_free: bool = True


@dataclass(slots=True)
class _Order:
    customer: _Customer
    oid: str
    key: bytes
    t0: int
    amount: float
    currency: str
    next_candidate: int  # when the customer's next order would be placed, if it happens
    journal: list[Seen]
    label: dict[str, str]  # phone as typed at checkout (wms)
    carrier_phone: dict[str, str]  # phone as the carrier's API reports it
    csat_sent: bool = False


@dataclass(slots=True)
class _Task:
    customer: _Customer
    t0: int  # when the order is placed
    first: bool
    lead: int | None = None  # lead_created time (first orders only)
    converts: bool = True


@dataclass(slots=True)
class _TicketResult:
    tid: str
    resolved: int | None  # final resolution time (None: still open when generation stopped)
    escalations: int
    reopened: bool
    first_reply_hours: float


class _Run:
    """One pass of the simulation; not reusable (its RNGs advance)."""

    def __init__(self, config: SimulationConfig) -> None:
        self.cfg = config
        start, end = config.window()
        self.start_ts = int(start.timestamp())
        self.end_ts = int(end.timestamp())
        self.as_of = end.date()
        # Epoch 0 keeps the plain seed, so a data set does not change when epochs are added.
        self.rng = _Random(config.seed if config.epoch == 0 else f"{config.seed}:epoch:{config.epoch}")
        self.frng = _Random(f"faults:{config.seed}" + (f":epoch:{config.epoch}" if config.epoch else ""))
        self.clock = _Clock()
        self.truth = Truth(config=dataclasses.replace(config, start=start.date()))
        self.counts = {"event": 0, "duplicate": 0, "malformed": 0}
        # A calendar queue: the current day is a heap, later days are unsorted buckets that are
        # heapified when the clock reaches them (a single heap of every pending event is slower).
        self.today: list[tuple[int, int, SimulatedRecord | _Task]] = []
        self.today_ends = -(2**62)
        self.buckets: dict[int, list[tuple[int, int, SimulatedRecord | _Task]]] = {}
        self.days: list[int] = []
        self.seq = itertools.count()
        self.now = self.start_ts
        # Each epoch numbers its orders and tickets in a block of its own.
        self.order_no = 10_000_000 * config.epoch + 1_000_000 + self.rng.randrange(1_000_000)
        self.ticket_no = 1_000_000 * config.epoch + 100_000 + self.rng.randrange(100_000)
        self.encode = msgspec.json.Encoder().encode
        self.ids = _Ids(self.rng)
        self.fids = _Ids(self.frng)
        self.events = self.truth.events
        clock = self.clock
        self.stamps: dict[str, Callable[[int], str]] = {
            "webshop": clock.utc,
            "wms": clock.utc,
            "payments": clock.utc_offset,
            "crm": clock.london,
            "helpdesk": clock.london,
            "carrier": clock.utc_ms,
        }
        self.fault_total = (
            config.late_arrival_rate
            + config.out_of_order_rate
            + config.duplicate_rate
            + config.malformed_rate
        )
        self.faulty = self.fault_total > 0

    # -- stream ---------------------------------------------------------------------------

    def records(self) -> Iterator[SimulatedRecord]:
        self._customers()
        pop, today = heapq.heappop, self.today
        while True:
            while today:
                key, _, item = pop(today)
                if type(item) is SimulatedRecord:
                    yield item
                else:
                    assert isinstance(item, _Task)
                    self.now = key
                    self._task(item)
            if not self.days:
                break
            day = heapq.heappop(self.days)
            self.today_ends = (day + 1) * _DAY
            today = self.today = self.buckets.pop(day)
            heapq.heapify(today)
        self.counts["event"] = len(self.events)
        self.truth.records = dict(self.counts)

    def _push(self, at: int, item: SimulatedRecord | _Task) -> None:
        """Queue `item` for time `at`, which is never earlier than the clock."""
        if at < self.today_ends:
            heapq.heappush(self.today, (at, next(self.seq), item))
            return
        day = at // _DAY
        bucket = self.buckets.get(day)
        if bucket is None:
            bucket = self.buckets[day] = []
            heapq.heappush(self.days, day)
        bucket.append((at, next(self.seq), item))

    def _emit(
        self,
        ts: int,
        event_type: str,
        source: str,
        customer: dict[str, str],
        order_id: str | None,
        attributes: dict[str, Any],
        key: bytes,
        who: _Customer,
        journal: list[Seen] | None = None,
    ) -> bool:
        """Encode one event (if it happened inside the window) and publish it."""
        if ts >= self.end_ts or ts < self.start_ts:
            return False
        event_id = self.ids.next()
        event = _Envelope(
            event_id,
            event_type,
            SCHEMA_VERSION,
            self.stamps[source](ts),
            source,
            customer,
            order_id,
            attributes,
        )
        cid = who.cid
        record = _new_record(_DEPARTMENT_OF[event_type], key, self.encode(event), event_id, cid, "event")
        self.events[event_id] = cid
        if journal is not None:
            journal.append((ts, event_type, attributes))
        if self.faulty:
            roll = self.frng.random()
            if roll < self.fault_total:
                self._publish_with_fault(roll, ts, record, event)
                return True
        self._push(ts, record)
        return True

    def _publish_with_fault(self, roll: float, ts: int, record: SimulatedRecord, event: _Envelope) -> None:
        """Publish with one fault; `roll` (uniform below the total fault rate) picks which."""
        cfg, f = self.cfg, self.frng
        late = cfg.late_arrival_rate
        shuffled = late + cfg.out_of_order_rate
        duplicated = shuffled + cfg.duplicate_rate
        if roll < late:
            self._push(ts + f.randrange(7 * _DAY, 35 * _DAY), record)
        elif roll < shuffled:
            self._push(ts + f.randrange(300, 6 * _HOUR), record)
        elif roll < duplicated:
            self.counts["duplicate"] += 1
            self._push(ts, record)
            duplicate = SimulatedRecord(
                record.department,
                record.key,
                record.value,
                record.event_id,
                record.true_customer,
                "duplicate",
            )
            self._push(ts + f.randrange(1, 2 * _DAY), duplicate)
        else:
            self.counts["malformed"] += 1
            self._push(ts, record)
            self._push(ts + f.randrange(120), self._malformed(event, record))

    def _malformed(self, event: _Envelope, record: SimulatedRecord) -> SimulatedRecord:
        """A broken sibling of `event` (new id), of the kinds real producers send by mistake."""
        f = self.frng
        bad = msgspec.structs.asdict(event)
        event_id: str | None = self.fids.next()
        bad["event_id"] = event_id
        attrs = dict(bad["attributes"])
        bad["attributes"] = attrs
        event_type = bad["event_type"]
        value: bytes
        kind = f.randrange(11)
        if kind == 0:  # cut off mid-record
            whole = self.encode(bad)
            value, event_id = whole[: f.randrange(1, len(whole) - 1)], None
        elif kind == 1:  # not UTF-8 (a Latin-1 producer)
            value = self.encode(bad).replace(b'"source":"', b'"source":"\xe9\xff', 1)
            event_id = None
        elif kind == 2:  # not an event at all
            value = f.one(
                (
                    b"",
                    b"null",
                    b"[]",
                    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
                    b"event_id,event_type,occurred_at\n",
                    b'{"event_id": "',
                )
            )
            event_id = None
        else:
            if kind == 3:  # an attribute of the wrong type or out of its range
                name = f.one(_REQUIRED[event_type])
                attrs[name] = _wrong_value(name, attrs[name], f)
            elif kind == 4:  # a required attribute missing
                del attrs[f.one(_REQUIRED[event_type])]
            elif kind == 5:  # an event type outside the contract
                department, _, action = event_type.partition(".")
                bad["event_type"] = f.one(
                    (
                        f"{department}.{action}_v2",
                        f"{department.title()}.{action}",
                        f"{department}/{action}",
                        f"{department}.parcel_teleported",
                    )
                )
            elif kind == 6:  # no customer identifier
                bad["customer"] = f.one(({}, {"email": None}, {"name": "Alex"}))
            elif kind == 7:  # timestamp without an offset, or not a timestamp
                stamp = bad["occurred_at"]
                bad["occurred_at"] = f.one(
                    (stamp[:19], f"{stamp[8:10]}/{stamp[5:7]}/{stamp[:4]} {stamp[11:16]}", 0)
                )
                event_id = None
            elif kind == 8:  # a schema version this loader does not read
                bad["schema_version"] = 2
            elif kind == 9:  # a device clock a century ahead
                stamp = bad["occurred_at"]
                bad["occurred_at"] = f"{int(stamp[:4]) + 100}{stamp[4:]}"
            else:  # no usable event id
                if f.random() < 0.5:
                    del bad["event_id"]
                else:
                    bad["event_id"] = f"evt-{f.randrange(10**8)}"
                event_id = None
            value = self.encode(bad)
        return SimulatedRecord(
            record.department, record.key, value, event_id, record.true_customer, "malformed"
        )

    # -- customers ------------------------------------------------------------------------

    def _customers(self) -> None:
        cfg, rng = self.cfg, self.rng
        n = cfg.customers
        width = max(6, len(str(n * 20)))
        ids = rng.sample(range(10 ** (width - 1), 10**width), n)
        capacity = 1000 * len(_PHONE_RANGES)
        numbers = rng.sample(range(capacity), min(n, capacity))
        days = list(range(self.start_ts // _DAY, self.end_ts // _DAY))
        day_cum = list(itertools.accumulate(_WEEKDAY_WEIGHTS[_weekday(day)] for day in days))
        used: set[str] = set()
        for index in range(n):
            cid = f"CUS-{ids[index]}" if cfg.epoch == 0 else f"CUS-{cfg.epoch}-{ids[index]}"
            first, last = rng.one(_FIRST_NAMES), rng.one(_LAST_NAMES)
            pattern = rng.randrange(6)
            if pattern == 0:
                local = f"{first}.{last}"
            elif pattern == 1:
                local = f"{first}{last}"
            elif pattern == 2:
                local = f"{first[0]}{last}"
            elif pattern == 3:
                local = f"{first}_{last}"
            elif pattern == 4:
                local = f"{first}.{last}{rng.randrange(1, 99)}"
            else:
                local = f"{first}{rng.randrange(60, 100):02d}"
            domain = rng.pick(_DOMAINS, _DOMAIN_CUM)
            if cfg.epoch:
                local = f"{local}.e{cfg.epoch}"  # another epoch's people have other addresses
            base = local
            while f"{local}@{domain}" in used:
                local = f"{base}{rng.randrange(2, 1000)}"
            email = f"{local}@{domain}"
            used.add(email)
            style = rng.random()
            if style < 0.55:
                registered = email
            elif style < 0.9:
                registered = f"{local.title()}@{domain}"
            else:
                registered = f"{local.title()}@{domain.upper()}"
            emails = (
                registered,
                email,
                email.upper(),
                f" {registered}",
                f"{registered} ",
                f"  {email}\n",
                f"{local.capitalize()}@{domain.capitalize()}",
            )
            if index < capacity and cfg.epoch == 0:
                prefix, area = _PHONE_RANGES[numbers[index] // 1000]
                national = f"{prefix}{numbers[index] % 1000:03d}"
            elif cfg.epoch == 0:  # beyond the drama ranges: synthetic mobiles, still unique
                national, area = f"79{index:08d}", 4
            else:  # later epochs: mobiles in a block of their own, 078..., apart from epoch 0's
                national, area = f"78{(cfg.epoch - 1) * n + index:08d}", 4
            phones = _phone_spellings(national, area)
            self.truth.customers[cid] = {"customer_id": cid, "email": email, "phone": phones[0]}
            customer = _Customer(
                cid=cid,
                email=email,
                phone=phones[0],
                key=cid.encode(),
                emails=emails,
                phones=phones,
                webshop={"customer_id": cid, "email": registered},
                payments={"customer_id": cid, "email": email},
                crm=(
                    {"customer_id": cid, "email": email},
                    {"customer_id": cid, "email": registered},
                    {"customer_id": cid, "email": f"{registered} "},
                ),
                currency="EUR" if rng.random() < 0.06 else "GBP",
            )
            if not days:
                continue
            t0 = self._time_on(rng.pick(days, day_cum))
            if rng.random() < cfg.lead_rate:
                converts = rng.random() < cfg.lead_conversion_rate
                lead = t0 - rng.randrange(_HOUR, 14 * _DAY) if converts else t0
                if lead >= self.start_ts:  # a lead from before the window is not in the data
                    self._push(lead, _Task(customer, t0, True, lead, converts))
                    continue
            self._push(t0 - 3 * _DAY, _Task(customer, t0, True))

    def _time_on(self, day: int) -> int:
        """A moment on `day` following the hour-of-day pattern of orders."""
        rng = self.rng
        hour = rng.pick(range(24), _HOUR_CUM)
        return day * _DAY + hour * _HOUR + rng.randrange(_HOUR)

    def _task(self, task: _Task) -> None:
        c, rng = task.customer, self.rng
        floor = self.now
        if task.lead is not None:
            lead_key = c.key
            self._emit(
                task.lead,
                "sales.lead_created",
                "webshop" if rng.random() < 0.6 else "crm",
                c.webshop,
                None,
                {"channel": rng.one(_LEAD_CHANNELS)},
                lead_key,
                c,
            )
            horizon = task.t0 if task.converts else min(task.lead + 30 * _DAY, self.end_ts)
            if rng.random() < 0.12 and horizon - task.lead > 2 * _HOUR:
                opened = task.lead + rng.randrange(_HOUR, horizon - task.lead)
                category = rng.one(("product", "product", "billing", "other"))
                self._ticket(None, c, opened, category)
            if not task.converts:
                return
            floor = task.lead
        self._order(c, task.t0, task.first, floor)

    # -- one order ------------------------------------------------------------------------

    def _next_order_time(self, t0: int) -> int:
        rng = self.rng
        day = t0 // _DAY + 1
        for _ in range(6):
            day = t0 // _DAY + 1 + int(rng.expovariate(1.0 / self.cfg.repeat_gap_days))
            if rng.random() * _WEEKDAY_MAX < _WEEKDAY_WEIGHTS[_weekday(day)]:
                break
        return self._time_on(day)

    def _order(self, c: _Customer, t0: int, first: bool, floor: int) -> None:
        cfg, rng, clock = self.cfg, self.rng, self.clock
        self.order_no += rng.randrange(1, 4)
        oid = f"ORD-{self.order_no}"
        okey = oid.encode()
        label_spelling = c.phones[rng.randrange(len(c.phones))]
        order = _Order(
            c,
            oid,
            okey,
            t0,
            0.0,
            c.currency,
            self._next_order_time(t0),
            [],
            {"phone": label_spelling},
            {"phone": c.phones[0] if rng.random() < 0.7 else c.phones[1]},
        )
        journal = order.journal
        next_roll = rng.random()

        channel = rng.pick(_ORDER_CHANNELS, _ORDER_CHANNEL_CUM)
        source = "crm" if channel == "phone" else "webshop"
        sales_id = c.webshop if source == "webshop" else c.crm[rng.randrange(3)]
        items = 1 + int(rng.expovariate(0.9))
        amount = round(math.exp(rng.gauss(3.4, 0.55)) * (0.7 + 0.3 * items), 2)
        order.amount = amount
        money = {"amount": amount, "currency": c.currency}
        express = rng.random() < 0.18
        bank_transfer = rng.random() < 0.04

        if rng.random() < cfg.quote_rate:
            quoted = max(t0 - rng.randrange(_HOUR, 3 * _DAY), floor + 60)
            if quoted < t0:
                quote = {"amount": round(amount * rng.uniform(1.0, 1.1), 2), "currency": c.currency}
                self._emit(quoted, "sales.quote_sent", "crm", c.crm[0], None, quote, c.key, c)

        # The schedule the webshop promises from: payment, warehouse, carrier pickup, transit.
        if bank_transfer:
            paid = t0 + rng.randrange(_DAY, 3 * _DAY)
        elif channel == "phone":
            paid = t0 + rng.randrange(60, _HOUR)
        else:
            paid = t0 + rng.randrange(5, 180)
        created = self._working(paid + rng.randrange(1200, 6 * _HOUR), 6, 22)
        created_day = created // _DAY
        pickup_day = _skip_sunday(created_day if created % _DAY < 15 * _HOUR else created_day + 1)
        transit = 1 if express else rng.pick((1, 2, 3), (50, 85, 100))
        promised_day = _add_working_days(
            _add_working_days(pickup_day, transit), 0 if express or rng.random() < 0.4 else 1
        )
        placed = {
            "amount": amount,
            "currency": c.currency,
            "items": items,
            "channel": channel,
            "promised_delivery_date": clock.day(promised_day),
        }
        if express:
            placed["service"] = "express"
        if rng.random() < 0.15:
            placed["coupon"] = rng.one(("WELCOME10", "SPRING15", "FREESHIP", "LOYAL5"))
        self._emit(t0, "sales.order_placed", source, sales_id, oid, placed, okey, c, journal)

        if rng.random() < cfg.sales_cancel_rate:
            self._cancel(order, paid, created, bank_transfer)
            self._finish(order, 1.5, cancelled=True, next_roll=next_roll)
            return
        self._emit(paid, "sales.payment_captured", "payments", c.payments, oid, money, okey, c, journal)

        late = rng.random() < cfg.shipping_late_rate
        lost = rng.random() < cfg.parcel_lost_rate
        warehouse_delay = late and rng.random() < 0.35
        if warehouse_delay:
            pickup_day = _add_working_days(pickup_day, rng.randint(1, 3))
        dispatched = pickup_day * _DAY + 16 * _HOUR + rng.randrange(3 * _HOUR)
        planned = _add_working_days(pickup_day, transit)
        if late and not warehouse_delay:
            extra = rng.randint(6, 12) if rng.random() < 0.1 else rng.randint(1, 4)
            planned = _add_working_days(planned, extra)
        # How far behind the carrier's clock is: enough to put the delivery before the placement.
        skew = 0
        if cfg.carrier_clock_skew_rate and rng.random() < cfg.carrier_clock_skew_rate:
            skew = (planned + 8 - t0 // _DAY) * _DAY
        carrier = rng.pick(_CARRIERS, _CARRIER_CUM)
        warehouse = rng.one(_WAREHOUSES)
        wms = order.label
        if self._emit(
            created,
            "shipping.shipment_created",
            "wms",
            wms,
            oid,
            {"carrier": carrier, "warehouse": warehouse},
            okey,
            c,
            journal,
        ):
            c.label_seen = min(c.label_seen, created)
        tracking = _tracking_id(carrier, rng)
        self._emit(
            dispatched - skew,
            "shipping.shipment_dispatched",
            "carrier",
            order.carrier_phone,
            oid,
            {"carrier": carrier, "tracking_id": tracking},
            okey,
            c,
            journal,
        )

        failures = 0
        if rng.random() < cfg.failed_attempt_rate:
            failures = rng.pick((1, 2, 3), (70, 95, 100))
        day = planned
        first_failure: tuple[int, str] | None = None
        for _ in range(failures if not lost else 0):
            attempt = day * _DAY + rng.randrange(8 * _HOUR, 20 * _HOUR)
            outcome = rng.pick(_ATTEMPT_OUTCOMES, _ATTEMPT_CUM)
            if first_failure is None:
                first_failure = (attempt, outcome)
            self._emit(
                attempt - skew,
                "shipping.delivery_attempted",
                "carrier",
                order.carrier_phone,
                oid,
                {"outcome": outcome},
                okey,
                c,
                journal,
            )
            day = _add_working_days(day, 1)
        delivered: int | None = None
        damaged = False
        if not lost:
            delivered = day * _DAY + rng.randrange(8 * _HOUR, 20 * _HOUR)
            damaged = rng.random() < cfg.shipping_damage_rate * _CARRIER_DAMAGE[carrier]
            delivered_attrs: dict[str, Any] = {"damaged": damaged}
            delivered_attrs["location"] = rng.one(("front_door", "neighbour", "parcel_locker"))
            self._emit(
                delivered - skew,
                "shipping.delivered",
                "carrier",
                order.carrier_phone,
                oid,
                delivered_attrs,
                okey,
                c,
                journal,
            )
        is_late = delivered is None or delivered // _DAY > promised_day

        # Support and sales react to what went wrong.
        mood = 4.5 + rng.gauss(0, 0.6)
        problem = False
        results: list[_TicketResult] = []
        refunded = False
        promise_end = (promised_day + 1) * _DAY
        if lost:
            problem = True
            mood -= 1.6
            if rng.random() < 0.95:
                opened = promise_end + rng.randrange(2 * _DAY, 5 * _DAY)
                refund = (amount, "lost_in_transit") if rng.random() < cfg.refund_rate else None
                results.append(self._ticket(order, c, opened, "delivery", "shipping", refund))
                refunded = refund is not None
        elif damaged:
            problem = True
            mood -= 1.0
            assert delivered is not None
            if rng.random() < 0.85:
                opened = delivered + rng.randrange(_HOUR, 2 * _DAY)
                roll = rng.random()
                refund = (amount, "damaged") if roll < cfg.refund_rate else None
                results.append(self._ticket(order, c, opened, "damaged", None, refund))
                refunded = refund is not None
                if refund is None and roll < cfg.refund_rate + (1 - cfg.refund_rate) * 0.4:
                    self._return(order, delivered + rng.randrange(3 * _DAY, 10 * _DAY), "damaged")
                    refunded = True
            elif rng.random() < 0.3:
                self._return(order, delivered + rng.randrange(3 * _DAY, 10 * _DAY), "damaged")
                refunded = True
        elif is_late or first_failure is not None:
            problem = problem or is_late
            mood -= 0.8 if is_late else 0.3
            assert delivered is not None
            if is_late and rng.random() < 0.45:
                opened = promise_end + rng.randrange(2 * _HOUR, 36 * _HOUR)
                if opened < delivered:
                    refund = None
                    if rng.random() < cfg.refund_rate * 0.2:
                        refund = (min(4.99, amount), "late_delivery")
                    results.append(self._ticket(order, c, opened, "delivery", None, refund))
                    refunded = refund is not None
            elif first_failure is not None and rng.random() < 0.3:
                opened = first_failure[0] + rng.randrange(_HOUR, 12 * _HOUR)
                results.append(self._ticket(order, c, opened, "delivery", None, None))
        if rng.random() < cfg.ticket_rate:
            category = rng.pick(_SPONTANEOUS, _SPONTANEOUS_CUM)
            if category == "product" and delivered is not None:
                opened = delivered + rng.randrange(_HOUR, 10 * _DAY)
            else:
                opened = paid + rng.randrange(_HOUR, 5 * _DAY)
            refund = None
            if category == "billing" and rng.random() < 0.25:
                refund = (round(amount * 0.1, 2), "price_adjustment")
            results.append(self._ticket(order, c, opened, category, None, refund))
            refunded = refunded or refund is not None
        if delivered is not None and not damaged and not lost and rng.random() < cfg.return_rate:
            problem = True
            mood -= 0.3
            self._return(order, delivered + rng.randrange(3 * _DAY, 14 * _DAY), None)
            refunded = True

        if results:
            problem = True
            mood += rng.gauss(0, 0.5)  # people who needed support vary more
            for result in results:
                mood -= 0.35 * result.escalations + (1.1 if result.reopened else 0.0)
                mood -= 0.7 if result.first_reply_hours > 24 else 0.0
                mood -= 1.5 if result.resolved is None else 0.0
            if refunded:
                mood += 0.7
            last = max(results, key=lambda r: r.resolved if r.resolved is not None else 2**62)
            if (
                last.resolved is not None
                and all(r.resolved is not None for r in results)
                and rng.random() < cfg.csat_response_rate
            ):
                answered = last.resolved + rng.randrange(_HOUR, 3 * _DAY)
                self._csat(order, c, answered, mood, last.tid)
        elif delivered is not None and rng.random() < cfg.survey_rate:
            self._csat(order, c, delivered + rng.randrange(_DAY, 5 * _DAY), mood, None)

        if not problem and delivered is not None:
            if rng.random() < cfg.checkin_rate:
                self._check_in(order, c, delivered + rng.randrange(_DAY, 10 * _DAY))
            if c.problem_free and rng.random() < cfg.checkin_rate * 0.4:
                # an account-level call from sales, about no order in particular
                at = delivered + rng.randrange(14 * _DAY, 40 * _DAY)
                channel = rng.one(("phone", "email"))
                self._emit(at, "sales.check_in", "crm", c.crm[0], None, {"channel": channel}, c.key, c)
        else:
            c.problem_free = False
        self._finish(order, mood, cancelled=False, next_roll=next_roll)

    def _finish(self, order: _Order, mood: float, *, cancelled: bool, next_roll: float) -> None:
        """Decide whether the customer comes back, then record the journey's true outcome."""
        cfg = self.cfg
        if cancelled:
            factor = 0.6
        elif mood < 2.0:
            factor = 0.15
        elif mood < 3.0:
            factor = 0.5
        elif mood < 4.0:
            factor = 0.85
        else:
            factor = 1.0
        later = order.next_candidate < self.end_ts and next_roll < cfg.repeat_rate * factor
        if later:
            key = max(order.next_candidate - 3 * _DAY, self.now)
            self._push(key, _Task(order.customer, order.next_candidate, False))
        outcome, problems = _classify(order.journal, self.as_of, later)
        self.truth.journeys[order.oid] = JourneyTruth(order.customer.cid, outcome, problems)

    def _working(self, ts: int, opens: int, closes: int) -> int:
        """The first moment at or after `ts` within opening hours, Monday to Saturday."""
        day, sec = divmod(ts, _DAY)
        if sec < opens * _HOUR:
            sec = opens * _HOUR + self.rng.randrange(_HOUR)
        elif sec >= closes * _HOUR:
            day, sec = day + 1, opens * _HOUR + self.rng.randrange(_HOUR)
        return _skip_sunday(day) * _DAY + sec

    def _cancel(self, order: _Order, paid: int, created: int, bank_transfer: bool) -> None:
        rng, c = self.rng, order.customer
        oid, okey, journal = order.oid, order.key, order.journal
        reason = rng.pick(_CANCEL_REASONS, _CANCEL_CUM)
        money = {"amount": order.amount, "currency": order.currency}
        if reason == "payment_failed" or bank_transfer:
            reason = "payment_failed"
            at = order.t0 + rng.randrange(_DAY, 3 * _DAY)
            if rng.random() < 0.3:
                self._ticket(order, c, order.t0 + rng.randrange(_HOUR, 20 * _HOUR), "billing")
        else:
            self._emit(paid, "sales.payment_captured", "payments", c.payments, oid, money, okey, c, journal)
            at = paid + rng.randrange(600, 30 * _HOUR)
            if created < at and self._emit(
                created,
                "shipping.shipment_created",
                "wms",
                order.label,
                oid,
                {"carrier": rng.one(_CARRIERS), "warehouse": rng.one(_WAREHOUSES)},
                okey,
                c,
                journal,
            ):
                c.label_seen = min(c.label_seen, created)
            refund = dict(money, reason="order_cancelled")
            refunded = at + rng.randrange(_HOUR, 3 * _DAY)
            self._emit(refunded, "sales.refund_issued", "crm", c.crm[0], oid, refund, okey, c, journal)
        self._emit(at, "sales.order_cancelled", "crm", c.crm[1], oid, {"reason": reason}, okey, c, journal)

    def _return(self, order: _Order, at: int, reason: str | None) -> None:
        """Shipping receives the parcel back; sales refunds it a few days later."""
        rng, c = self.rng, order.customer
        why = reason or rng.one(_RETURN_REASONS)
        self._emit(
            at,
            "shipping.return_received",
            "wms",
            order.label,
            order.oid,
            {"reason": why},
            order.key,
            c,
            order.journal,
        )
        delay = rng.randrange(_DAY, 9 * _DAY)
        refund = {"amount": order.amount, "currency": order.currency, "reason": "returned"}
        self._emit(
            at + delay, "sales.refund_issued", "crm", c.crm[0], order.oid, refund, order.key, c, order.journal
        )
        if delay > 5 * _DAY and rng.random() < 0.5:
            self._ticket(order, c, at + 5 * _DAY + rng.randrange(_DAY), "refund", min_resolve=at + delay)

    def _csat(self, order: _Order, c: _Customer, at: int, mood: float, ticket: str | None) -> None:
        if order.csat_sent:
            return
        order.csat_sent = True
        score = min(5, max(1, round(mood)))
        who = {"email": c.emails[self.rng.randrange(len(c.emails))]}
        attrs = {"score": score, "ticket_id": ticket}
        self._emit(
            at, "support.csat_submitted", "helpdesk", who, order.oid, attrs, order.key, c, order.journal
        )

    def _check_in(self, order: _Order, c: _Customer, at: int) -> None:
        """A proactive contact after a journey without problems, by whichever department."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.45:
            attrs = {"channel": rng.one(("email", "phone"))}
            self._emit(at, "sales.check_in", "crm", c.crm[0], order.oid, attrs, order.key, c)
        elif roll < 0.8:
            who = {"email": c.emails[rng.randrange(len(c.emails))]}
            known = rng.random() < 0.5
            attrs = {"channel": rng.one(("email", "chat"))}
            key = order.key if known else c.email.encode()
            self._emit(at, "support.check_in", "helpdesk", who, order.oid if known else None, attrs, key, c)
        else:
            attrs = {"channel": "sms"}
            self._emit(
                at, "shipping.check_in", "carrier", order.carrier_phone, order.oid, attrs, order.key, c
            )

    def _ticket(
        self,
        order: _Order | None,
        c: _Customer,
        opened: int,
        category: str,
        escalate_to: str | None = None,
        refund: tuple[float, str] | None = None,
        min_resolve: int = 0,
    ) -> _TicketResult:
        """A support ticket's life: open, replies, escalations, refund, resolve, reopen."""
        cfg, rng = self.cfg, self.rng
        self.ticket_no += rng.randrange(1, 3)
        tid = f"TCK-{self.ticket_no}"
        if not self.start_ts <= opened < self.end_ts:  # the whole ticket is outside the data
            return _TicketResult(tid, None, 0, False, 0.0)
        channel = rng.pick(_TICKET_CHANNELS, _TICKET_CHANNEL_CUM)
        forced = order is not None and (opened - order.t0 > 60 * _DAY or opened > order.next_candidate)
        knows_order = order is not None and (forced or rng.random() < cfg.support_order_id_rate)
        who: dict[str, str]
        if channel == "phone":
            who = {"phone": c.phones[rng.one((0, 0, 1, 2, 5))]}
            if not knows_order and c.label_seen > opened:
                who["email"] = c.emails[1]  # the agent asked for an email to find the customer
        elif channel == "web" and rng.random() < 0.3:
            who = {"email": c.emails[rng.randrange(len(c.emails))], "phone": c.phones[2]}
        else:
            who = {"email": c.emails[rng.randrange(len(c.emails))]}
        order_id = order.oid if knows_order and order is not None else None
        key = (
            order.key
            if order_id is not None and order is not None
            else (c.email.encode() if "email" in who else c.phone.encode())
        )
        journal = order.journal if order is not None else None

        def support(at: int, event_type: str, attrs: dict[str, Any]) -> None:
            self._emit(at, event_type, "helpdesk", who, order_id, attrs, key, c, journal)

        ref = {"ticket_id": tid}
        opened_attrs = {"ticket_id": tid, "channel": channel, "category": category}
        opened_attrs["subject"] = _SUBJECTS[category]
        if self._emit(
            opened, "support.ticket_opened", "helpdesk", who, order_id, opened_attrs, key, c, journal
        ):
            self.truth.tickets[tid] = {
                "customer": c.cid,
                "order_id": order.oid if order is not None else None,
            }
        first_reply = opened + max(300, int(_lognormal(rng, cfg.support_first_reply_hours, 0.9)))
        support(first_reply, "support.agent_replied", ref)
        at = first_reply
        escalations = 0
        if escalate_to is not None or rng.random() < cfg.support_escalation_rate:
            owner = escalate_to or _OWNER[category]
            at += rng.randrange(600, 8 * _HOUR)
            if rng.random() < 0.15:  # first sent to the wrong department
                wrong = rng.one([d for d in DEPARTMENTS if d != owner])
                support(at, "support.ticket_escalated", {"ticket_id": tid, "to_department": wrong})
                escalations += 1
                at += rng.randrange(2 * _HOUR, 30 * _HOUR)
            support(at, "support.ticket_escalated", {"ticket_id": tid, "to_department": owner})
            escalations += 1
            at += rng.randrange(_HOUR, 24 * _HOUR)
            support(at, "support.agent_replied", ref)
        if refund is not None and order is not None:
            at += rng.randrange(2 * _HOUR, 48 * _HOUR)
            money = {"amount": refund[0], "currency": order.currency, "reason": refund[1]}
            self._emit(at, "sales.refund_issued", "crm", c.crm[0], order.oid, money, order.key, c, journal)
        for _ in range(rng.pick((0, 1, 2), (50, 85, 100))):
            at += 300 + int(_lognormal(rng, 6.0, 0.8))
            support(at, "support.agent_replied", ref)
        at = max(at, min_resolve)
        resolved: int | None = None
        reopened = False
        if rng.random() < cfg.support_resolve_rate:
            resolved = max(at + 600, opened + int(_lognormal(rng, cfg.support_resolution_hours, 0.8)))
            support(resolved, "support.ticket_resolved", ref)
            if rng.random() < cfg.support_reopen_rate:
                reopened = True
                at = resolved + rng.randrange(6 * _HOUR, 5 * _DAY)
                support(at, "support.ticket_reopened", ref)
                at += 300 + int(_lognormal(rng, cfg.support_first_reply_hours, 0.9))
                support(at, "support.agent_replied", ref)
                if rng.random() < 0.85:
                    resolved = at + 600 + int(_lognormal(rng, cfg.support_resolution_hours / 2, 0.8))
                    support(resolved, "support.ticket_resolved", ref)
                else:
                    resolved = None
        return _TicketResult(tid, resolved, escalations, reopened, (first_reply - opened) / _HOUR)


def _lognormal(rng: _Random, median_hours: float, sigma: float) -> float:
    """Seconds, log-normally distributed around a median given in hours (reply times are)."""
    return median_hours * _HOUR * math.exp(rng.gauss(0.0, sigma))


def _tracking_id(carrier: str, rng: _Random) -> str:
    if carrier == "royal_mail":
        letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
        return f"{rng.one(letters)}{rng.one(letters)}{rng.randrange(10**9):09d}GB"
    if carrier == "dpd":
        return f"{rng.randrange(10**14):014d}"
    if carrier == "evri":
        return f"H{rng.getrandbits(60):015X}"
    return f"{rng.randrange(10**10):010d}"


def _phone_spellings(national: str, area: int) -> tuple[str, ...]:
    """One UK number as people and systems write it; index 0 is E.164."""
    code, rest = national[:area], national[area:]
    if len(rest) == 8:
        spaced, dashed = f"{rest[:4]} {rest[4:]}", f"{rest[:4]}-{rest[4:]}"
    elif len(rest) == 7:
        spaced, dashed = f"{rest[:3]} {rest[3:]}", f"{rest[:3]}-{rest[3:]}"
    else:
        spaced, dashed = rest, f"{rest[:3]}-{rest[3:]}"
    return (
        f"+44{national}",
        f"+44 {code} {spaced}",
        f"0{code} {spaced}",
        f"0{code}-{dashed}",
        f"(0{code}) {spaced}",
        f"0{national}",
        f"0044 {code} {spaced}",
        f"+44 (0){code} {spaced}",
    )


def _wrong_value(name: str, value: Any, f: _Random) -> Any:
    """A value of the wrong type (or outside its allowed range) for attribute `name`."""
    if isinstance(value, bool):
        return f.one(("yes", "false", 1))
    if isinstance(value, int):
        return f.one((str(value), 0, 7, -1)) if name == "score" else f.one((str(value), 0))
    if isinstance(value, float):
        return f.one((f"{value:.2f}", f"£{value:.2f}", -value - 1.0))
    if name == "promised_delivery_date":
        return f.one(("next Tuesday", "2025-13-45", f"{value}T00:00:00"))
    if name == "currency":
        return f.one(("gbp", "pounds", "€"))
    if name in ("outcome", "category", "to_department"):
        return f.one(("lost_in_space", "complaint", "finance"))
    return f.one((0, [value], None, ""))


# ---------------------------------------------------------------------------------------------
# Public entry points


class Simulation:
    """One seeded run: iterate `records()` for the stream, then ask `truth()` what really happened."""

    def __init__(self, config: SimulationConfig | None = None) -> None:
        self.config = config or SimulationConfig()
        self._truth: Truth | None = None

    def records(self) -> Iterator[SimulatedRecord]:
        """The stream in publish (arrival) order; each call starts the same run afresh."""
        run = _Run(self.config)
        yield from run.records()
        self._truth = run.truth

    def truth(self) -> Truth:
        """Ground truth of the run; computed by a silent pass if `records()` was not exhausted."""
        if self._truth is None:
            run = _Run(self.config)
            for _ in run.records():
                pass
            self._truth = run.truth
        return self._truth


def simulate(config: SimulationConfig) -> Iterator[SimulatedRecord]:
    """The records of one run, in publish order (see `Simulation` to get the truth as well)."""
    return Simulation(config).records()


def measure(customers: int = 2000, days: int = 90, seed: int = 42, repeat: int = 3) -> tuple[int, float]:
    """Records generated and the best wall-clock seconds of `repeat` runs: the events/s figure.

    Best-of-n because a shared machine's noise only ever adds time.
    """
    config = SimulationConfig(customers=customers, days=days, seed=seed)
    count, best = 0, math.inf
    for _ in range(max(1, repeat)):
        began = time.perf_counter()
        count = sum(1 for _ in simulate(config))
        best = min(best, time.perf_counter() - began)
    return count, best


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    records, seconds = measure(customers=size)
    sys.stdout.write(
        f"{records:,} records in {seconds:.3f} s: {records / seconds:,.0f} events/s "
        f"({size} customers, 90 days, one core, best of 3)\n"
    )
