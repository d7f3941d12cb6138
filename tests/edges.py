"""Hypothesis strategies for contract-valid events at the edges of what the contract accepts.

Largest amounts and item counts, the first and latest instants, offsets of +-14:00, dates ten
years after the order, text in any script (phones in full-width or Arabic-Indic digits), and
every event type: what the warehouse and dbt must hold without failing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from hypothesis import strategies as st

from streams.contract import ATTRIBUTES, EARLIEST, MAX_AMOUNT, MAX_ITEMS, PROMISE_HORIZON_DAYS

# Text of any script, without NUL (PostgreSQL's jsonb cannot hold it) or lone surrogates.
text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00"),
    min_size=1,
    max_size=16,
)
# A phone that keeps at least one decimal digit of some script: something to stitch by.
phones = st.builds(
    lambda prefix, digits, suffix: prefix + digits + suffix,
    st.sampled_from(["", "+", "00", "0", "+44 (0)"]),
    st.text(alphabet=st.characters(categories=["Nd"]), min_size=1, max_size=12),
    st.sampled_from(["", " ", "-12", " ext. 3"]),
)
amounts = st.one_of(
    st.sampled_from([0, 0.01, MAX_AMOUNT, MAX_AMOUNT - 0.01, 1e9]),
    st.decimals(0, MAX_AMOUNT, places=2).map(float),
)
items = st.one_of(st.sampled_from([1, MAX_ITEMS, MAX_ITEMS - 1]), st.integers(1, MAX_ITEMS))


def _zone(hours: int, minutes: int) -> dt.timezone:
    return dt.timezone(dt.timedelta(hours=hours, minutes=-minutes if hours < 0 else minutes))


offsets = st.builds(
    lambda hours, minutes: dt.timezone(
        dt.timedelta(hours=hours, minutes=minutes if hours >= 0 else -minutes)
    ),
    st.integers(-14, 14),
    st.sampled_from([0, 30, 45]),
).filter(lambda zone: abs(zone.utcoffset(None)) <= dt.timedelta(hours=14))
LATEST = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)  # before any day these tests run
instants = st.one_of(
    st.sampled_from([EARLIEST, EARLIEST + dt.timedelta(seconds=1), LATEST]),
    st.datetimes(EARLIEST.replace(tzinfo=None), LATEST.replace(tzinfo=None), timezones=st.just(dt.UTC)),
)
CATEGORIES = ["delivery", "damaged", "billing", "refund", "product", "account", "other"]
DEPARTMENTS = ["sales", "shipping", "support"]
OUTCOMES = ["failed_no_one_home", "failed_address", "failed_other"]


@st.composite
def attributes(draw: st.DrawFn, event_type: str, occurred: dt.datetime) -> dict[str, Any]:
    """Every attribute the event type requires, drawn at its edges."""
    fields = set(ATTRIBUTES[event_type].__struct_fields__)
    drawn: dict[str, Any] = {}
    for name in sorted(fields):
        if name == "amount":
            drawn[name] = draw(amounts)
        elif name == "items":
            drawn[name] = draw(items)
        elif name == "score":
            drawn[name] = draw(st.integers(1, 5))
        elif name == "damaged":
            drawn[name] = draw(st.booleans())
        elif name == "promised_delivery_date":
            days = draw(
                st.one_of(st.sampled_from([0, PROMISE_HORIZON_DAYS]), st.integers(0, PROMISE_HORIZON_DAYS))
            )
            drawn[name] = (occurred.date() + dt.timedelta(days=days)).isoformat()
        elif name == "category":
            drawn[name] = draw(st.sampled_from(CATEGORIES))
        elif name == "to_department":
            drawn[name] = draw(st.sampled_from(DEPARTMENTS))
        elif name == "outcome":
            drawn[name] = draw(st.sampled_from(OUTCOMES))
        elif name == "ticket_id":
            drawn[name] = draw(st.one_of(st.sampled_from(["T-1", "T-2"]), text))
        elif name == "currency":
            drawn[name] = draw(st.sampled_from(["EUR", "GBP", "JPY"]))
        else:
            drawn[name] = draw(text)
    return drawn


@st.composite
def edge_events(draw: st.DrawFn) -> tuple[str, bytes, bytes]:
    """One contract-valid event at the edges, as (department, key, value)."""
    event_type = draw(st.sampled_from(sorted(ATTRIBUTES)))
    occurred = draw(instants)
    customer = draw(
        st.fixed_dictionaries(
            {},
            optional={"customer_id": text, "email": text.map(lambda t: t + "@example.com"), "phone": phones},
        ).filter(bool)
    )
    order_id = draw(st.one_of(st.none(), st.sampled_from(["O-1", "O-2", "O-3"]), text))
    body = {
        "event_id": str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)), version=4)),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": occurred.astimezone(draw(offsets)).isoformat(),
        "source": draw(text),
        "customer": customer,
        "order_id": order_id,
        "attributes": draw(attributes(event_type, occurred)),
    }
    key = (order_id or "none").encode()
    return event_type.partition(".")[0], key, msgspec.json.encode(body)
