"""Hostile records (issue 17): what the loader must quarantine with a reason a person can act on, and
valid events at the edges of the same rules, which must load and build.

Shared by the poison catalogue (tests/integration/test_poison_catalogue.py: each record through the
broker and the loader) and the hostile corpus (tests/e2e/test_hostile_corpus.py: all of them mixed
into simulated traffic, through the whole run).
"""

from __future__ import annotations

import datetime as dt
import uuid

from tests.events import encode, event

SQL = "'); drop table raw.touchpoints; --"
# 1.5 MiB each. Before, the DLQ copy cut the value to 1 MiB but kept the key: 2.5 MiB, more than the
# DLQ producer sends, so the loader stopped (exit 2) on this record on every run.
LONG_KEY = b"k" * (3 * 512 * 1024)
LONG_VALUE = b"v" * (3 * 512 * 1024)
# A producer may compress with any codec Kafka has; before, all but gzip stopped the loader.
CODECS = ("gzip", "snappy", "lz4", "zstd")


def order(**attributes: object) -> bytes:
    """A sales.order_placed with some attributes changed."""
    return encode(event(attributes={**event()["attributes"], **attributes}))  # type: ignore[dict-item]


def stamped(occurred_at: str) -> bytes:
    return encode({**event(), "occurred_at": occurred_at})


def with_note(note: bytes) -> bytes:
    """A valid order whose attributes also hold `note`, given as JSON text (msgspec would not
    encode a thousand levels)."""
    return encode(event()).replace(b'"channel":"web"', b'"channel":"web","note":' + note)


def _replaced(old: bytes, new: bytes) -> bytes:
    """A valid order with `old` (in its JSON text) written as `new`."""
    body = encode(event())
    assert old in body
    return body.replace(old, new)


POISON: dict[str, tuple[bytes, str]] = {
    # name: (payload, words the reason must contain)
    "not json": (b"this is not json", "not valid JSON"),
    "not utf-8": (b'{"event_id": "\xff\xfe"}', "not UTF-8"),
    "wrong types": (
        encode(
            event(
                attributes={
                    "amount": "lots",
                    "currency": "EUR",
                    "items": 2,
                    "channel": "web",
                    "promised_delivery_date": "2026-09-05",
                }
            )
        ),
        "attributes.amount",
    ),
    "unknown event type": (encode(event("sales.teleported")), "unknown event_type"),
    "no customer identifier": (encode(event(customer={})), "no identifier"),
    "oversized": (encode(event(source="x" * (2 * 1024 * 1024))), "limit is"),
    "years ahead": (
        encode(event(occurred_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=3 * 365))),
        "in the future",
    ),
    "sql in a broken event": (
        encode(event(event_type=SQL, customer={"customer_id": SQL})),
        "unknown event_type",
    ),
    "nul character": (encode(event(source="a\u0000b")), "NUL"),
    "null value": (b"null", "envelope"),
    "missing field": (encode({k: v for k, v in event().items() if k != "occurred_at"}), "occurred_at"),
    # Issue 17: records that stopped the loader for good, or that dbt or a warehouse could not hold.
    "nested 1,000 deep": (b'{"x":' * 1000 + b"1" + b"}" * 1000, "nested more than 32 levels deep"),
    "nested 1,000 deep in attributes": (
        with_note(b'{"a":' * 999 + b"{}" + b"}" * 999),
        "nested more than 32 levels deep",
    ),
    "duplicate key": (
        encode(event()).replace(b'"amount":42.5', b'"amount":5,"amount":7'),
        "duplicate key 'amount'",
    ),
    "items beyond a 32-bit integer": (order(items=2**31), "attributes.items"),
    "amount beyond numeric(12,2)": (order(amount=1e10), "attributes.amount"),
    "items dbt casts, on a check-in": (
        encode(event("sales.check_in", attributes={"channel": "web", "items": "lots"})),
        "attributes.items",
    ),
    "a number PostgreSQL cannot hold": (
        encode(event()).replace(b'"amount":42.5', b'"amount":1e-20000'),
        "beyond what the warehouses store",
    ),
    "before year 1 in UTC": (stamped("0001-01-01T00:00:00+14:00"), "before 1970-01-01"),
    "offset without a colon": (stamped("2026-09-01T09:00:00+0100"), "RFC3339 needs a colon"),
    "promised in year 9999": (order(promised_delivery_date="9999-12-31"), "promised_delivery_date"),
    "phone-only customer without a digit": (
        encode(event(customer={"phone": "call me maybe"})),
        "customer.phone has no digit",
    ),
    "key and value over 1 MiB": (LONG_VALUE, "the limit is 1,048,576 bytes"),
    # More of each class, and their neighbours.
    "nested 1,000 deep in arrays": (b'{"x":' + b"[" * 1000 + b"]" * 1000 + b"}", "nested more than 32"),
    "nested 33 deep, one past the limit": (
        with_note(b'{"a":' * 31 + b"1" + b"}" * 31),
        "nested more than 32 levels deep",
    ),
    "event_type twice": (
        _replaced(
            b'"event_type":"sales.order_placed"',
            b'"event_type":"sales.order_placed","event_type":"sales.check_in"',
        ),
        "duplicate key 'event_type'",
    ),
    "customer_id twice": (
        _replaced(b'"customer":{"customer_id":"C-1"', b'"customer":{"customer_id":"C-1","customer_id":"C-2"'),
        "duplicate key 'customer_id'",
    ),
    "a key twice, one copy written with an escape": (
        _replaced(b'"amount":42.5', b'"amount":42.5,"amo\\u0075nt":7'),
        "duplicate key 'amount'",
    ),
    "escaped NUL in an attribute": (order(channel="we\u0000b"), "NUL"),
    "escaped NUL in a key": (with_note(b'{"a\\u0000b":1}'), "NUL"),
    "a second before 1970": (stamped("1969-12-31T23:59:59Z"), "before 1970-01-01"),
    "year 9999 at -14:00, after year 9999 in UTC": (stamped("9999-12-31T23:59:59-14:00"), "in the future"),
    "offset of hours only": (stamped("2026-09-01T09:00:00+01"), "occurred_at"),
    "offset -0530 without a colon": (stamped("2026-09-01T09:00:00-0530"), "RFC3339 needs a colon"),
    "no UTC offset": (stamped("2026-09-01T09:00:00"), "timezone"),
    "occurred_at in epoch seconds": (encode({**event(), "occurred_at": 1700000000}), "occurred_at"),
    "items 0": (order(items=0), "attributes.items"),
    "items 2^63": (order(items=2**63), "attributes.items"),
    "amount a cent below 0": (order(amount=-0.01), "attributes.amount"),
    "amount 1e400": (_replaced(b'"amount":42.5', b'"amount":1e400'), "attributes.amount"),
    "amount 10,000,000,000 as an integer": (order(amount=10_000_000_000), "attributes.amount"),
    "CSAT of 6": (encode(event("support.csat_submitted", attributes={"score": 6})), "attributes.score"),
    "damaged 'yes' on a check-in": (
        encode(event("sales.check_in", attributes={"channel": "web", "damaged": "yes"})),
        "attributes.damaged",
    ),
    "promised on 30 February": (order(promised_delivery_date="2026-02-30"), "promised_delivery_date"),
    "promised before 1970": (order(promised_delivery_date="1969-12-31"), "promised_delivery_date"),
    "phone-only customer of spaces": (encode(event(customer={"phone": "   "})), "customer.phone"),
    "phone-only customer in words of another script": (
        encode(event(customer={"phone": "\u96fb\u8a71\u306a\u3057"})),
        "customer.phone has no digit",
    ),
    "customer_id of white space": (encode(event(customer={"customer_id": " \t"})), "customer.customer_id"),
    "event_id not a UUID": (encode(event(event_id="not-a-uuid")), "event_id"),
    "event_id in braces": (encode(event(event_id="{" + str(uuid.uuid4()) + "}")), "event_id"),
    "schema_version 2": (encode(event(schema_version=2)), "unsupported schema_version 2"),
    "schema_version as text": (encode(event(schema_version="1")), "schema_version"),
    "attributes a list": (encode({**event(), "attributes": [1]}), "attributes"),
    "customer a string": (encode({**event(), "customer": "C-1"}), "customer"),
    "event_type of 513 characters": (encode(event("sales." + "x" * 507)), "event_type"),
    "a byte order mark before the JSON": (b"\xef\xbb\xbf" + encode(event()), "not valid JSON"),
    "empty value": (b"", "not valid JSON"),
    "a JSON array": (b"[]", "envelope"),
    "two events in one record": (encode(event()) + encode(event()), "not valid JSON"),
    "cut short": (encode(event())[:-10], "not valid JSON"),
    "Latin-1 text": (_replaced(b'"source":"test"', b'"source":"caf\xe9"'), "not UTF-8"),
    "a lone surrogate escape": (_replaced(b'"source":"test"', b'"source":"\\ud800"'), "not valid JSON"),
    "a number of 5,000 digits": (
        _replaced(b'"amount":42.5', b'"amount":' + b"1" * 5000),
        "beyond what the warehouses store",
    ),
    "an exponent of 1,001": (with_note(b"1e1001"), "beyond what the warehouses store"),
}
KEYS = {"key and value over 1 MiB": LONG_KEY}  # the others have the key b"k"

# Valid, at the edges of the same rules: they load, and build, in both warehouses.
EDGES: dict[str, bytes] = {
    "phone in full-width digits": encode(
        event(order_id="O-wide", customer={"phone": "\uff10\uff12\uff10 7946 \uff10\uff11\uff12\uff13"})
    ),
    "backslash-u0000 as text": encode(event(order_id="O-text", source="a\\u0000b")),
    "items and amount at their column limits": encode(
        event(
            order_id="O-max",
            attributes={**event()["attributes"], "items": 2**31 - 1, "amount": 9_999_999_999.99},
        )  # type: ignore[dict-item]
    ),
    "the first second of 1970": encode(
        event(
            "sales.check_in",
            order_id="O-1970",
            attributes={"channel": "web"},
            occurred_at=dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
        )
    ),
    "an RFC 3339 offset": encode({**event(order_id="O-offset"), "occurred_at": "2026-09-01T09:00:00+01:00"}),
    "a phone without a digit beside an email": encode(
        event(order_id="O-email", customer={"phone": "call me maybe", "email": "c@example.com"})
    ),
}
# More edges, for the hostile corpus.
MORE_EDGES: dict[str, bytes] = {
    "nested 32 deep, at the limit": encode(event(order_id="O-deep")).replace(
        b'"channel":"web"', b'"channel":"web","note":' + b'{"a":' * 30 + b"1" + b"}" * 30
    ),
    "an offset of -14:00": encode({**event(order_id="O-west"), "occurred_at": "2026-09-01T09:00:00-14:00"}),
    "phone in Arabic-Indic digits, the only identifier": encode(
        event(
            order_id="O-arabic", customer={"phone": "\u0660\u0662\u0660\u0667\u0669\u0664\u0666\u0660\u0661"}
        )
    ),
    "right-to-left override and an emoji in text": encode(
        event(order_id="O-rtl", source="\u202e\U0001f642 app")
    ),
    "a field the contract does not know": encode(event(order_id="O-campaign", campaign="spring")),
    "event_id in capitals": encode(event(order_id="O-caps", event_id=str(uuid.uuid4()).upper())),
    "SQL in every text field": encode(
        event(order_id=SQL, source=SQL, customer={"customer_id": SQL, "email": SQL})
    ),
    "a valid event under a 1.5 MiB key": encode(event(order_id="O-long-key")),
}
EDGE_KEYS = {"a valid event under a 1.5 MiB key": LONG_KEY}  # the others have the key b"k"
