"""Contract v1: what is a touchpoint, and how rejections read."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from streams.contract import (
    ATTRIBUTES,
    EVENT_TYPES,
    MAX_DEPTH,
    SCHEMA_PATH,
    Rejection,
    Touchpoint,
    decode,
    render_json_schema,
    too_deep,
)
from streams.quarantine import reason_kind
from tests.events import encode, event


def test_a_valid_event_decodes_to_a_typed_touchpoint() -> None:
    body = event(customer={"email": " A@Example.com "})
    result = decode(encode(body))
    assert isinstance(result, Touchpoint)
    assert result.department == "sales"
    assert result.occurred_at.tzinfo is not None
    assert result.email == " A@Example.com "  # normalising is dbt's job; raw keeps what came


def test_additive_attributes_load_and_are_kept() -> None:
    body = event(attributes={**event()["attributes"], "coupon": "WINTER"})  # type: ignore[dict-item]
    result = decode(encode(body))
    assert isinstance(result, Touchpoint)
    assert json.loads(result.attributes)["coupon"] == "WINTER"


def test_a_removed_required_attribute_is_rejected_with_its_name() -> None:
    attributes = dict(event()["attributes"])  # type: ignore[call-overload]
    del attributes["currency"]
    result = decode(encode(event(attributes=attributes)))
    assert isinstance(result, Rejection)
    assert "currency" in result.reason and result.event_type == "sales.order_placed"


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"{", "not valid JSON"),
        (b"\xc3\x28", "not UTF-8"),
        (b"[]", "expected object, got array"),
        (encode(event(schema_version=2)), "unsupported schema_version 2"),
        (encode(event(customer={"email": "   "})), "customer.email"),
        (encode(event(occurred_at=dt.datetime(2026, 1, 1))), "timezone"),  # naive timestamp
        (encode(event(event_id="123")), "event_id"),
        (encode(event("support.csat_submitted", attributes={"score": 9})), "attributes.score"),
        (encode(event("shipping.delivered", attributes={"damaged": "no"})), "attributes.damaged"),
    ],
)
def test_rejections_say_what_is_wrong(payload: bytes, words: str) -> None:
    result = decode(payload)
    assert isinstance(result, Rejection)
    assert words in result.reason


def test_oversized_and_future_limits_are_configurable() -> None:
    payload = encode(event())
    assert isinstance(decode(payload, max_bytes=10), Rejection)
    later = dt.datetime(2026, 9, 1, 8, tzinfo=dt.UTC) - dt.timedelta(days=2)
    result = decode(payload, now=later, max_future=dt.timedelta(days=1))
    assert isinstance(result, Rejection) and "future" in result.reason


def test_every_department_has_a_check_in_and_the_closed_list_is_complete() -> None:
    assert {"sales.check_in", "shipping.check_in", "support.check_in"} <= set(EVENT_TYPES)
    assert len(ATTRIBUTES) == 20


def test_the_committed_json_schema_matches_the_code() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_json_schema(), (
        "regenerate it: python -m streams.contract"
    )


# -- hostile input (issue 17): nothing stops the loader, and whatever is accepted can be stored --------


def _attributes(**changes: object) -> dict[str, object]:
    return {**event()["attributes"], **changes}  # type: ignore[dict-item]


def _nested(depth: int) -> bytes:
    """JSON objects `depth` deep, as text: msgspec would not encode a thousand levels either."""
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


def _with_note(note: bytes) -> bytes:
    """A valid order_placed whose attributes also hold `note`, given as JSON text."""
    return encode(event()).replace(b'"channel":"web"', b'"channel":"web","note":' + note)


def _reason(payload: bytes) -> str:
    result = decode(payload)
    assert isinstance(result, Rejection), "expected a rejection"
    return result.reason


@pytest.mark.parametrize(
    "payload",
    [
        b'{"x":' * 1000 + b"1" + b"}" * 1000,  # the envelope itself
        _with_note(_nested(1000)),  # inside attributes
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["top level", "attributes", "arrays"],
)
def test_deep_nesting_is_refused_without_recursion(payload: bytes) -> None:
    reason = _reason(payload)
    assert f"nested more than {MAX_DEPTH} levels deep" in reason


def test_nesting_up_to_the_limit_loads_and_brackets_in_strings_do_not_count() -> None:
    # The envelope is level 1 and attributes level 2, so note adds MAX_DEPTH - 2 levels.
    assert isinstance(decode(_with_note(_nested(MAX_DEPTH - 2))), Touchpoint)
    assert "nested" in _reason(_with_note(_nested(MAX_DEPTH - 1)))
    brackets = encode(event(source="[{" * 200, attributes=_attributes(note='"[[[[' * 50)))
    assert isinstance(decode(brackets), Touchpoint)


def test_the_depth_check_is_linear_on_an_unterminated_string_of_escaped_quotes() -> None:
    assert too_deep(b"[" * 40 + b'"' + b'\\"' * 500_000)  # before: one rescan per quote
    assert not too_deep(b'["' + b"[" * 40 + b'"]')


@pytest.mark.parametrize(
    ("attributes", "words"),
    [
        (_attributes(items=2**31), "attributes.items: expected int <= 2147483647"),
        (_attributes(items=0), "attributes.items: expected int >= 1"),
        (_attributes(amount=1e10), "attributes.amount: expected float <= 9999999999.99"),
        (_attributes(amount=9_999_999_999.995), "attributes.amount"),  # rounds up to 1e10 in numeric(12, 2)
        (_attributes(promised_delivery_date="1969-12-31"), "promised_delivery_date 1969-12-31 is outside"),
        (_attributes(promised_delivery_date="2036-09-02"), "ten years after occurred_at"),
    ],
)
def test_values_a_warehouse_column_cannot_hold_are_refused(attributes: dict[str, object], words: str) -> None:
    assert words in _reason(encode(event(attributes=attributes)))


def test_values_at_the_column_limits_load() -> None:
    attributes = _attributes(items=2**31 - 1, amount=9_999_999_999.99, promised_delivery_date="2036-09-01")
    assert isinstance(decode(encode(event(attributes=attributes))), Touchpoint)
    epoch = event(
        "sales.check_in", attributes={"channel": "web"}, occurred_at=dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    )
    assert isinstance(decode(encode(epoch)), Touchpoint)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (event("sales.check_in", attributes={"channel": "web", "items": "lots"}), "attributes.items"),
        (event("sales.lead_created", attributes={"channel": "web", "amount": 1e12}), "attributes.amount"),
        (
            event(
                "sales.quote_sent",
                attributes={"amount": 1, "currency": "EUR", "promised_delivery_date": "soon"},
            ),
            "attributes.promised_delivery_date",
        ),
        (
            event(
                "shipping.shipment_created", attributes={"carrier": "c", "warehouse": "w", "damaged": "no"}
            ),
            "damaged",
        ),
        (
            event(
                "support.ticket_opened",
                attributes={"ticket_id": "T-1", "channel": "email", "category": "other", "score": 9},
            ),
            "score",
        ),
    ],
)
def test_attributes_dbt_casts_keep_their_type_in_every_event(body: dict[str, object], words: str) -> None:
    assert words in _reason(encode(body))


def test_a_typed_attribute_may_be_null_where_the_event_type_does_not_require_it() -> None:
    assert isinstance(
        decode(encode(event("sales.check_in", attributes={"channel": "web", "items": None}))), Touchpoint
    )


@pytest.mark.parametrize(
    ("stamp", "words"),
    [
        ("0001-01-01T00:00:00+14:00", "is before 1970-01-01T00:00:00Z"),  # before year 1 in UTC
        ("1969-12-31T23:59:59Z", "is before 1970-01-01T00:00:00Z"),
        ("2026-09-01T08:00:00+0100", "offset as '+0100'; RFC3339 needs a colon, as in '+01:00', or Z"),
        ("2026-09-01T08:00:00-0530", "as in '-05:30'"),
        ("2026-09-01T08:00:00+01", "occurred_at: invalid RFC3339"),
        ("2026-09-01T08:00:00", "occurred_at: expected datetime with a timezone component"),
    ],
)
def test_timestamps_outside_the_window_or_rfc_3339_are_refused(stamp: str, words: str) -> None:
    assert words in _reason(encode({**event(), "occurred_at": stamp}))


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-09-01T08:00:00Z",
        "2026-09-01t08:00:00z",
        "2026-09-01T09:00:00+01:00",
        "2026-09-01T08:00:00-00:00",
    ],
)
def test_rfc_3339_offsets_load(stamp: str) -> None:
    result = decode(encode({**event(), "occurred_at": stamp}))
    assert isinstance(result, Touchpoint)
    assert result.occurred_at == dt.datetime(2026, 9, 1, 8, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("phone", "stored"),
    [
        ("\uff10\uff12\uff10 7946 \uff10\uff11\uff12\uff13", "020 7946 0123"),  # full-width
        ("\u0660\u0662\u0660\u0667\u0669\u0664\u0666\u0660\u0661\u0662\u0663", "02079460123"),  # Arabic-Indic
        ("+44 20 7946 0123", "+44 20 7946 0123"),
    ],
)
def test_phone_digits_of_any_script_are_stored_as_ascii(phone: str, stored: str) -> None:
    result = decode(encode(event(customer={"phone": phone})))
    assert isinstance(result, Touchpoint)
    assert result.phone == stored


def test_a_phone_without_a_digit_is_refused_only_when_it_is_the_only_identifier() -> None:
    for phone in ("call me", "\u00b2\u00b3", "+-()"):  # superscripts are digits, not decimal ones
        assert "customer.phone has no digit" in _reason(encode(event(customer={"phone": phone})))
    result = decode(encode(event(customer={"phone": "call me", "email": "a@example.com"})))
    assert isinstance(result, Touchpoint) and result.phone == "call me"


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        (encode(event()).replace(b'"amount":42.5', b'"amount":5,"amount":7'), "amount"),
        (encode(event()).replace(b'"source":"test"', b'"source":"a","source":"b"'), "source"),
        (encode(event(attributes=_attributes(note={"x": {"k": 1}}))).replace(b'"k":1', b'"k":1,"k":2'), "k"),
        (encode(event()).replace(b'"amount":42.5', b'"amount":5,"\\u0061mount":7'), "amount"),  # escaped
        (encode(event()).replace(b'"amount":42.5', b'"amount":5,"\\u0061mount":"\\u003a"'), "amount"),
    ],
    ids=["attributes", "envelope", "nested", "escaped key", "escaped key and colon"],
)
def test_duplicate_keys_are_refused_at_any_depth(payload: bytes, key: str) -> None:
    result = decode(payload)
    assert isinstance(result, Rejection)
    assert result.reason.startswith(f"duplicate key '{key}'")
    assert result.event_type == "sales.order_placed"


def test_the_same_key_in_different_objects_and_escaped_colons_load() -> None:
    assert isinstance(decode(_with_note(b'[{"sku":"a"},{"sku":"b"}]')), Touchpoint)
    assert isinstance(decode(_with_note(b'{"\\u003a":"\\u003a"}')), Touchpoint)


def test_only_a_real_nul_is_refused() -> None:
    text = decode(encode(event(source="a\\u0000b")))  # a backslash, then the letters u0000
    assert isinstance(text, Touchpoint) and text.source == "a\\u0000b"
    assert "NUL" in _reason(encode(event(source="a\u0000b")))
    assert "NUL" in _reason(encode(event(source="a\\\u0000b")))  # a backslash, then NUL


@pytest.mark.parametrize(
    "number",
    [b"1e-20000", b"1E-1001", b"1e1001", b"0." + b"1" * 4301, b"9" * 5000, b"-" + b"9" * 4301],
    ids=["tiny", "exponent", "huge exponent", "long fraction", "long integer", "long negative integer"],
)
def test_numbers_postgresql_cannot_store_are_refused(number: bytes) -> None:
    read_by_dbt = encode(event()).replace(b'"amount":42.5', b'"amount":' + number)
    kept_raw_only = _with_note(number)
    for payload in (read_by_dbt, kept_raw_only):
        assert "is beyond what the warehouses store" in _reason(payload)


def test_numbers_within_the_limits_load() -> None:
    for number in (b"1e-1000", b"1e400", b"9" * 4300, b"0." + b"1" * 4300):
        assert isinstance(decode(_with_note(number)), Touchpoint), number[:20]


def test_reasons_quote_values_so_quarantine_list_groups_them() -> None:
    reasons = [
        _reason(encode(event()).replace(b'"amount":42.5', b'"amount":' + number))
        for number in (b"1e-20000", b"-3.5E+1001")
    ]
    reasons += [
        _reason(encode({**event(), "occurred_at": stamp}))
        for stamp in ("2026-09-01T08:00:00+0100", "2026-09-01T08:00:00-0530")
    ]
    assert len({reason_kind(reason) for reason in reasons}) == 2


def test_a_reason_stays_short_whatever_value_it_quotes() -> None:
    # The reason goes into a DLQ header: quoting the whole value made it as large as the payload,
    # and with the key the dead letter could exceed what the DLQ producer sends.
    body = event("shipping.delivery_attempted", attributes={"outcome": "x" * 900_000})
    reason = _reason(encode(body))
    assert reason.startswith(
        "shipping.delivery_attempted attributes invalid: attributes.outcome: invalid enum"
    )
    assert len(reason) < 300
