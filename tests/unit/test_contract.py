"""Contract v1: what is a touchpoint, and how rejections read."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from streams.contract import (
    ATTRIBUTES,
    EVENT_TYPES,
    SCHEMA_PATH,
    Rejection,
    Touchpoint,
    decode,
    render_json_schema,
)
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
