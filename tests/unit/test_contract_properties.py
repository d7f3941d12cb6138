"""Properties of the contract on generated input (Hypothesis), at the edges issue 17 found.

Whatever the bytes, `decode` answers without raising; and whatever it accepts fits the columns the
warehouses and dbt give it: items an integer, amount a numeric(12, 2), timestamps from 1970 to a
day ahead, dates in their window, no duplicate key, no NUL, no number PostgreSQL cannot hold.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.contract import (
    EARLIEST,
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_NUMBER_DIGITS,
    MAX_NUMBER_EXPONENT,
    PROMISE_HORIZON_DAYS,
    Rejection,
    Touchpoint,
    decode,
)

NOW = dt.datetime(2026, 9, 1, 12, tzinfo=dt.UTC)
MAX_FUTURE = dt.timedelta(days=1)
CENT = decimal.Decimal("0.01")
NUMERIC_12_2 = decimal.Decimal("9999999999.99")

PROPERTIES = settings(
    max_examples=300,
    deadline=None,
    database=None,  # nothing written to the working tree between runs
    suppress_health_check=[HealthCheck.too_slow],
)


def _decode(raw: bytes) -> Touchpoint | Rejection:
    result = decode(raw, now=NOW, max_future=MAX_FUTURE)
    assert isinstance(result, Touchpoint | Rejection)
    if isinstance(result, Rejection):
        assert result.reason and "\n" not in result.reason and len(result.reason) < 1000
    return result


# -- generated JSON fragments, as text: the edges are in how things are written ----------------------

# Numbers as JSON writes them, from the ordinary to what no column holds (1e-20000, 30 digits).
json_numbers = st.one_of(
    st.from_regex(r"\A[1-9][0-9]{0,5}(\.[0-9]{1,2})?\Z"),
    st.from_regex(r"\A-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,4})?([eE][+-]?[0-9]{1,2})?\Z"),
    st.from_regex(r"\A-?[1-9][0-9]{0,3}(\.[0-9]{1,3})?[eE][+-]?[0-9]{3,5}\Z"),
    st.sampled_from(
        [
            "0",
            "-0.0",
            "1",
            "2147483647",
            "2147483648",
            "9223372036854775808",
            "9999999999.99",
            "9999999999.995",
            "10000000000",
            "5e-324",
            "1e-1000",
            "1e-1001",
            "1e308",
            "1e309",
            "1e400",
            "9" * 4300,
            "9" * 4301,
            "0." + "1" * 4301,
        ]
    ),
)
strings = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12
)  # any character, NUL and controls included
json_strings = st.builds(json.dumps, strings)
offsets = st.one_of(
    st.sampled_from(["Z", "z", "+00:00", "-00:00", "+14:00", "-14:00", "+0100", "+01", ""]),
    st.builds(
        lambda sign, hours, minutes, colon: f"{sign}{hours:02d}{':' if colon else ''}{minutes:02d}",
        st.sampled_from("+-"),
        st.integers(0, 23),
        st.integers(0, 59),
        st.booleans(),
    ),
)
timestamps = st.builds(
    lambda moment, separator, offset: f'"{moment.isoformat(sep=separator)}{offset}"',
    st.one_of(
        st.datetimes(min_value=dt.datetime(1969, 12, 31), max_value=dt.datetime(2026, 9, 3)),
        st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59)),
    ),
    st.sampled_from("Tt "),
    st.one_of(st.sampled_from(["Z", "+01:00", "-05:30"]), offsets),
)
dates = st.one_of(
    st.builds(lambda day: f'"{day.isoformat()}"', st.dates(dt.date(1969, 12, 1), dt.date(2036, 12, 31))),
    st.builds(lambda day: f'"{day.isoformat()}"', st.dates()),
    st.sampled_from(['"2026-02-30"', '"20260905"', '"1969-12-31"', '"1970-01-01"', "null", "1"]),
)
phones = st.one_of(
    st.none(),
    st.text(
        alphabet=st.characters(categories=["Nd", "No", "Zs", "Pd", "Ps", "Pe", "Ll"], include_characters="+"),
        min_size=1,
        max_size=16,
    ),
)
values = st.one_of(json_numbers, json_strings, st.sampled_from(["true", "false", "null", "[]", "{}"]))


def _nested(depth: int, inner: str) -> str:
    return '{"n":' * depth + inner + "}" * depth


@st.composite
def hostile_orders(draw: st.DrawFn) -> bytes:
    """A sales event whose fields are drawn from the edges, written as JSON text."""
    event_type = draw(st.sampled_from(["sales.order_placed", "sales.check_in", "sales.quote_sent"]))
    attributes = {
        "amount": draw(st.one_of(json_numbers, json_strings)),
        "currency": '"EUR"',
        "items": draw(st.one_of(json_numbers, st.just("null"))),
        "channel": '"web"',
        "promised_delivery_date": draw(dates),
    }
    for name in draw(st.sets(st.sampled_from(sorted(attributes)), max_size=1)):
        del attributes[name]
    pairs = [f'"{name}":{value}' for name, value in attributes.items()]
    if draw(st.booleans()):
        depth = draw(st.one_of(st.integers(0, 3), st.integers(0, 2 * MAX_DEPTH)))
        pairs.append(f'"note":{_nested(depth, draw(values))}')
    if draw(st.sampled_from([False, False, False, True])) and pairs:  # a key twice
        pairs.append(draw(st.sampled_from(pairs)).split(":", 1)[0] + ":" + draw(values))
    customer: dict[str, Any] = {"phone": draw(phones)}
    if draw(st.sampled_from([True, True, False])):
        customer["email"] = "c@example.com"
    envelope = [
        '"event_id":"7d3f4b4e-2f7a-4c55-9d1e-5b8a1c2e3f40"',
        f'"event_type":"{event_type}"',
        '"schema_version":1',
        f'"occurred_at":{draw(timestamps)}',
        f'"source":{draw(st.sampled_from([json.dumps("test"), draw(json_strings)]))}',
        f'"customer":{json.dumps({k: v for k, v in customer.items() if v is not None})}',
        '"order_id":"O-1"',
        f'"attributes":{{{",".join(pairs)}}}',
    ]
    return ("{" + ",".join(draw(st.permutations(envelope))) + "}").encode()


# -- what an accepted event must satisfy -------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate key in {keys}"
    return dict(pairs)


def _storable_number(text: str) -> decimal.Decimal:
    mantissa, _, exponent = text.lower().partition("e")
    whole, _, fraction = mantissa.lstrip("-").partition(".")
    assert len(whole) <= MAX_NUMBER_DIGITS and len(fraction) <= MAX_NUMBER_DIGITS, text[:30]
    assert not exponent or abs(int(exponent)) <= MAX_NUMBER_EXPONENT, text[:30]
    return decimal.Decimal(text)


def _walk(value: Any, depth: int = 1) -> None:
    assert depth <= MAX_DEPTH
    if isinstance(value, dict):
        for key, item in value.items():
            assert "\x00" not in key
            _walk(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _walk(item, depth + 1)
    elif isinstance(value, str):
        assert "\x00" not in value


def _check_accepted(raw: bytes, event: Touchpoint) -> None:
    whole = json.loads(
        raw, object_pairs_hook=_no_duplicates, parse_float=_storable_number, parse_int=_storable_number
    )
    _walk(whole)
    attributes = json.loads(event.attributes, parse_float=decimal.Decimal, parse_int=decimal.Decimal)
    assert attributes == whole["attributes"]
    items = attributes.get("items")
    if items is not None:
        assert items == items.to_integral_value() and 1 <= items <= MAX_ITEMS  # integer
    amount = attributes.get("amount")
    if amount is not None:  # numeric(12, 2), rounded as PostgreSQL rounds
        assert 0 <= amount.quantize(CENT, rounding=decimal.ROUND_HALF_UP) <= NUMERIC_12_2
    assert event.occurred_at.utcoffset() is not None
    assert EARLIEST <= event.occurred_at <= NOW + MAX_FUTURE
    stamp = whole["occurred_at"]
    assert stamp[-1] in "Zz" or stamp[-3] == ":", f"not an RFC 3339 offset: {stamp}"
    promised = attributes.get("promised_delivery_date")
    if promised is not None:
        day = dt.date.fromisoformat(promised)
        assert EARLIEST.date() <= day
        assert (day - event.occurred_at.date()).days <= PROMISE_HORIZON_DAYS
    if event.phone is not None:
        assert not any(ch.isdecimal() and not ch.isascii() for ch in event.phone)
        if event.customer_id is None and event.email is None:
            assert any(ch in "0123456789" for ch in event.phone), "a phone-only customer must stitch"


# -- the properties ----------------------------------------------------------------------------------


@PROPERTIES
@given(hostile_orders())
def test_decode_never_raises_and_what_it_accepts_fits_the_columns(raw: bytes) -> None:
    result = _decode(raw)
    if isinstance(result, Touchpoint):
        _check_accepted(raw, result)


@PROPERTIES
@given(st.binary(max_size=400))
def test_decode_never_raises_on_any_bytes(raw: bytes) -> None:
    _decode(raw)


@PROPERTIES
@given(
    st.integers(0, 3000),
    st.sampled_from(["{", "[", '{"a":', '["x",']),
    st.sampled_from(["", "1", '"\\u0000"', '"\\\\u0000"']),
)
def test_decode_never_raises_on_deep_or_unbalanced_nesting(depth: int, opener: str, inner: str) -> None:
    closer = "}" if opener.startswith("{") else "]"
    for raw in (opener * depth + inner + closer * depth, opener * depth, closer * depth + inner):
        _decode(raw.encode())
